/**
 * Forage's inspector, the database dashboard: opens `forage` with `openTidal` and shows, live,
 * what this tab sees of it (per shard: this tab's role, the leading tab,
 * LSNs, lag, segments, verification counters, worker restarts) and the
 * newest writes from any tab, with controls to generate write load, kill a
 * shard's worker and corrupt the next payload a leader ships. The open
 * database is `window.tidal`, for devtools and tests.
 *
 * Start it with `npm run dev` and open http://localhost:5173/demo/inspector/ in one
 * tab, then in a second one. Plain DOM; every text is set with
 * `textContent`, and every failure is shown in the page's log.
 */
import { openTidal, type TidalDb } from '../../src/index.js';
import { corruptNextPayload, killWorker, updateCorruptButton } from './faults.js';
import { setText } from './format.js';
import { initLoad, toggleLoad, writeN } from './load.js';
import { describeError, logLine, reportError } from './log.js';
import { DB_NAME, MAX_RATE, MAX_WRITE_N, REFRESH_MS, STALE_STATS_MS, ui } from './page.js';
import { onChange, renderCounters, renderFeed } from './recent.js';
import { buildShardRows, renderStats } from './shards.js';

declare global {
  interface Window {
    /**
     * The open database, for devtools and tests; set once `openTidal` resolves (until then it is
     * `undefined`, whatever the type says: e2e/pages/db.ts declares it the same way, and the two must agree).
     */
    tidal: TidalDb;
  }
}

ui.rate.max = String(MAX_RATE);
ui.count.max = String(MAX_WRITE_N);
window.addEventListener('error', (event) => reportError('uncaught error', event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => reportError('unhandled rejection', event.reason));

async function main(): Promise<void> {
  let db: TidalDb;
  try {
    db = await openTidal({ name: DB_NAME, debug: true }); // the fault buttons use db.debug
  } catch (error) {
    ui.status.className = 'failed';
    ui.status.textContent = `the database could not be opened: ${describeError(error)}`;
    reportError('openTidal failed', error);
    return;
  }
  window.tidal = db;
  initLoad(db);
  const rows = buildShardRows(db.shards);
  const opened = `open: ${db.name}, ${db.shards} shards, ${db.storage === 'opfs' ? 'logs in OPFS' : 'logs in memory (no OPFS here: nothing survives a reload)'}`;
  ui.status.textContent = opened;
  logLine(`${opened}; this tab is ${db.tabId}`);

  db.subscribe('', onChange);

  ui.load.addEventListener('click', () => toggleLoad(db));
  ui.writeN.addEventListener('click', () => void writeN(db));
  ui.kill.addEventListener('click', () => killWorker(db));
  ui.corrupt.addEventListener('click', () => void corruptNextPayload(db));
  ui.faultShard.addEventListener('change', () => updateCorruptButton(rows));
  for (const control of [ui.load, ui.writeN, ui.faultShard, ui.kill]) control.disabled = false;

  let statsPending = false;
  let statsAt = performance.now();
  const refresh = (): void => {
    renderCounters();
    renderFeed();
    const age = performance.now() - statsAt;
    setText(ui.status, age > STALE_STATS_MS ? `${opened} · the shard stats are ${(age / 1000).toFixed(1)} s old` : opened);
    if (statsPending) return;
    statsPending = true;
    db.stats()
      .then((stats) => {
        statsAt = performance.now();
        renderStats(stats, rows);
        updateCorruptButton(rows);
      })
      .catch((error: unknown) => reportError('stats() failed', error))
      .finally(() => {
        statsPending = false;
      });
  };
  refresh();
  setInterval(refresh, REFRESH_MS);
}

main().catch((error: unknown) => {
  ui.status.className = 'failed';
  ui.status.textContent = `the dashboard failed: ${describeError(error)}`;
  reportError('the dashboard failed', error);
});
