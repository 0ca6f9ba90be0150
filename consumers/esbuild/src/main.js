// An esbuild app: build.mjs emits tidal's worker as dist/tidal-worker.js, next to this bundle.
import { openTidal } from 'tidal';

const name = new URLSearchParams(location.search).get('db') ?? 'consumer';
window.tidal = await openTidal({
  name,
  createWorker: (shard) =>
    new Worker(new URL('./tidal-worker.js', import.meta.url), { type: 'module', name: `tidal ${name} shard ${shard}` }),
});
document.querySelector('#status').textContent = 'ready';
