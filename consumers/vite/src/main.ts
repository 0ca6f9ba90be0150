// A Vite app that uses tidal the way the README shows: no configuration, the worker found by Vite.
import { openTidal, type TidalDb } from 'tidal';

declare global {
  interface Window {
    tidal: TidalDb;
  }
}

const name = new URLSearchParams(location.search).get('db') ?? 'consumer';
window.tidal = await openTidal({ name });
document.querySelector('#status')!.textContent = 'ready';
