// An esbuild app: build.mjs emits tidal's worker as dist/shard-host.worker.js, next to this bundle,
// where tidal looks for it.
import { openTidal } from 'tidal';

const name = new URLSearchParams(location.search).get('db') ?? 'consumer';
window.tidal = await openTidal({ name });
document.querySelector('#status').textContent = 'ready';
