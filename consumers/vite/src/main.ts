// A Vite app that uses tidal the way the README shows: no configuration, the worker found by Vite.
// With `?worker=create` it constructs the workers itself, exactly as the `createWorker` example
// in tidal's API reference (src/worker/api.ts) shows, so that the example is known to work.
import { openTidal, type OpenTidalOptions, type TidalDb } from 'tidal';

declare global {
  interface Window {
    tidal: TidalDb;
  }
}

const query = new URLSearchParams(location.search);
const name = query.get('db') ?? 'consumer';
// The example of `OpenTidalOptions.createWorker`, verbatim:
const createWorker: OpenTidalOptions['createWorker'] = (shard) =>
  new Worker(new URL('tidal/worker', import.meta.url), { type: 'module', name: `shard ${shard}` });
window.tidal = await openTidal(query.get('worker') === 'create' ? { name, createWorker } : { name });
document.querySelector('#status')!.textContent = 'ready';
