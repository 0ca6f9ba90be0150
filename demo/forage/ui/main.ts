/**
 * Forage's page. It opens the database (`window.tidal`, an open `TidalDb`:
 * `openTidal` needs `localStorage`, so it runs here), starts Forage's worker
 * and hands it the database over a MessageChannel, and exposes the client
 * it uses as `window.forage`. The page renders from one `view` request and
 * re-renders whenever a `forage:` key changes, in this tab or any other
 * (a tidal subscription: no polling), so every open tab shows the same
 * feed, counters, labels and posteriors.
 *
 * The page's parts, one module each: `elements.ts` (its elements),
 * `feed-page.ts` (the feed, cards, keys), `controls.ts` (sources, files,
 * labels, embedder, exports), `sync-panel.ts` (the Sync panel).
 *
 * Start it with `npm run dev` and open http://localhost:5173/.
 */
import * as Comlink from 'comlink';
import { installTidalErrorHandler, type TidalDb } from '../../../src/index.js';
import type { ForageWorkerApi } from '../handlers/index.js';
import { PREFIX, serveForageDb } from '../store/index.js';
import { ForageClient } from './client.js';
import { refreshSource, wireControls } from './controls.js';
import { ui } from './elements.js';
import { page, refresh, scheduleRefresh, showFeed } from './feed-page.js';
import { clear, errorText, progressText, show } from './messages.js';
import { openWithSync, startSyncPanel } from './sync-panel.js';

declare global {
  interface Window {
    /** The open database (see demo/inspector/main.ts, which declares it the same way). */
    tidal: TidalDb;
    /** Forage's client, once the page is connected to its worker. */
    forage: ForageClient;
  }
}

installTidalErrorHandler();

async function boot(): Promise<ForageClient> {
  const db = await openWithSync();
  window.tidal = db;
  startSyncPanel(db);
  const worker = new Worker(new URL('../worker/forage.worker.ts', import.meta.url), { type: 'module', name: 'forage' });
  const api = Comlink.wrap<ForageWorkerApi>(worker);
  const { port1, port2 } = new MessageChannel();
  serveForageDb(db, port1);
  await api.connect(Comlink.transfer(port2, [port2]), { tab: db.tabId, origin: location.origin });
  const client = new ForageClient(api);
  window.forage = client;
  showFeed(client, { refreshSource: (sourceId, row) => void refreshSource(sourceId, row) });
  wireControls(client);
  db.subscribe(PREFIX, scheduleRefresh);
  return client;
}

boot()
  .then(async (client) => {
    show(ui.status, 'progress', 'Loading the starter feeds…');
    const added = await client.addStarter({ onlyIfEmpty: true }, (p) => show(ui.status, 'progress', progressText(p)));
    clear(ui.status);
    page.started = true;
    if (added.length > 0)
      show(ui.sourceMessage, 'ok', `Starter feeds added: ${added.reduce((n, r) => n + r.added, 0)} items from ${added.length} sources.`);
    await refresh();
    document.body.dataset['ready'] = 'true';
  })
  .catch((error) => show(ui.status, 'error', `Forage could not start: ${errorText(error)}`));
