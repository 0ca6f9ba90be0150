/** The newest writes from any tab (a subscription to every key), and the page's counters. */
import type { Change } from '../../src/index.js';
import { el } from '../dom.js';
import { clip, describeEntity, setText } from './format.js';
import { inFlightTo, load, ownWriteId, ownWrites } from './load.js';
import { RECENT_ROWS, ui } from './page.js';

/** A change from the subscription feed, and what is known of where it came from. */
interface FeedEntry {
  readonly at: number;
  readonly change: Change;
  /** `'own'`: matched one of this tab's acknowledged writes; `'other'`: cannot be this tab's. Undecided while this tab has writes in flight to the shard. */
  origin: 'own' | 'other' | undefined;
  write: string | undefined;
}

const recent: FeedEntry[] = [];
let changesSeen = 0;
let feedVersion = 0;
let renderedFeedVersion = -1;

export function onChange(change: Change): void {
  changesSeen += 1;
  feedVersion += 1;
  recent.push({ at: Date.now(), change, origin: undefined, write: undefined });
  if (recent.length > RECENT_ROWS) recent.shift();
}

export function renderFeed(): void {
  let decided = false;
  for (const entry of recent) {
    if (entry.origin !== undefined) continue;
    const { shard, lsn, key } = entry.change;
    const write = ownWrites.get(ownWriteId(shard, lsn, key));
    if (write !== undefined) {
      entry.origin = 'own';
      entry.write = write;
      decided = true;
    } else if (inFlightTo(shard) === 0) {
      // Every write this tab sent to the shard is acknowledged and remembered: this one is another tab's.
      entry.origin = 'other';
      decided = true;
    }
  }
  if (!decided && renderedFeedVersion === feedVersion) return;
  renderedFeedVersion = feedVersion;
  ui.recent.replaceChildren(
    ...(recent.length === 0
      ? [el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'no writes seen yet'))]
      : recent
          .slice()
          .reverse()
          .map((entry) =>
            el(
              'tr',
              { class: entry.origin ?? '' },
              el('td', {}, new Date(entry.at).toLocaleTimeString()),
              el('td', { class: 'mono' }, clip(entry.change.key, 40)),
              el('td', { class: 'num' }, String(entry.change.shard)),
              el('td', { class: 'num' }, String(entry.change.lsn)),
              el('td', { class: 'from' }, entry.origin === 'own' ? 'this tab' : entry.origin === 'other' ? 'another tab' : '…'),
              el('td', { class: 'mono' }, entry.write ?? ''),
              el('td', { class: 'mono' }, describeEntity(entry.change.entity)),
            ),
          )),
  );
}

/** Rates over the last second, sampled by the refresh loop. */
const rates = { at: 0, acked: 0, changes: 0, ackedPerS: 0, changesPerS: 0 };

export function renderCounters(): void {
  const now = performance.now();
  if (now - rates.at >= 1000) {
    const seconds = (now - rates.at) / 1000;
    rates.ackedPerS = (load.acked - rates.acked) / seconds;
    rates.changesPerS = (changesSeen - rates.changes) / seconds;
    Object.assign(rates, { at: now, acked: load.acked, changes: changesSeen });
  }
  setText(
    ui.loadStats,
    `this tab: ${load.issued} issued · ${load.acked} acknowledged (${rates.ackedPerS.toFixed(0)}/s) · ` +
      `${load.inFlight} in flight · ${load.failed} failed` +
      (load.paused > 0 ? ` · ${load.paused} not issued (too many in flight)` : ''),
  );
  setText(ui.feedStats, `· ${changesSeen} changes seen by subscribe('') (${rates.changesPerS.toFixed(0)}/s)`);
}
