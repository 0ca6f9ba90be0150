// A webpack app that uses tidal the way the README shows: no configuration, the worker found by webpack.
// With `?worker=create` it constructs the workers itself, exactly as the `createWorker` example
// in tidal's API reference (src/worker/api.ts) shows, so that the example is known to work.
import { openTidal } from 'tidal';

const query = new URLSearchParams(location.search);
const name = query.get('db') ?? 'consumer';
// The example of `OpenTidalOptions.createWorker`, verbatim:
const createWorker = (shard) => new Worker(new URL('tidal/worker', import.meta.url), { type: 'module', name: `shard ${shard}` });
window.tidal = await openTidal(query.get('worker') === 'create' ? { name, createWorker } : { name });
document.querySelector('#status').textContent = 'ready';
