// A webpack app that uses tidal the way the README shows: no configuration, the worker found by webpack.
import { openTidal } from 'tidal';

const name = new URLSearchParams(location.search).get('db') ?? 'consumer';
window.tidal = await openTidal({ name });
document.querySelector('#status').textContent = 'ready';
