/**
 * The database dashboard: opens `forage` with `openTidal` and shows, live,
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
import { ShardRouter, openTidal } from '../../src/index.js';
import { byId, el } from '../dom.js';
import type { Change, Entity, ShardStats, TidalDb, TidalStats, Value, WriteToken } from '../../src/index.js';

declare global {
  interface Window {
    /**
     * The open database, for devtools and tests; set once `openTidal` resolves (until then it is
     * `undefined`, whatever the type says: e2e/pages/db.ts declares it the same way, and the two must agree).
     */
    tidal: TidalDb;
  }
}

const DB_NAME = 'forage';
const REFRESH_MS = 250;
const LOAD_TICK_MS = 100;
/** Keys the generated writes spread over: `item:000` … `item:299`. */
const KEYS = 300;
const MAX_RATE = 20_000;
const MAX_WRITE_N = 100_000;
/** While this many of this tab's writes await their acknowledgement, the load pauses instead of piling up more. */
const MAX_IN_FLIGHT = 20_000;
const RECENT_ROWS = 15;
const LOG_LINES = 60;
/** This tab's acknowledged writes remembered, to tell them apart from other tabs' in the feed. */
const OWN_WRITES = 50_000;
/** Stats older than this are flagged as stale in the status line. */
const STALE_STATS_MS = 1500;

const KINDS = ['view', 'click', 'like', 'share'] as const;
const LABELS = ['news', 'music', 'science', 'sport', 'art', 'travel'] as const;
const TAGS = ['fresh', 'long-read', 'video', 'podcast', 'local', 'deep-dive', 'funny'] as const;

const ui = {
  status: byId('status'),
  tab: byId('tab'),
  rate: byId<HTMLInputElement>('rate'),
  load: byId<HTMLButtonElement>('load'),
  count: byId<HTMLInputElement>('count'),
  writeN: byId<HTMLButtonElement>('write-n'),
  loadStats: byId('load-stats'),
  faultShard: byId<HTMLSelectElement>('fault-shard'),
  kill: byId<HTMLButtonElement>('kill'),
  corrupt: byId<HTMLButtonElement>('corrupt'),
  shards: byId('shards'),
  recent: byId('recent'),
  feedStats: byId('feed-stats'),
  log: byId('log'),
};
ui.rate.max = String(MAX_RATE);
ui.count.max = String(MAX_WRITE_N);

// ---- log and errors ------------------------------------------------------

let lastLogText = '';
let lastLogRepeats = 1;

/** Adds a line to the page's log; a line equal to the previous one bumps its count instead. */
function logLine(text: string, error = false): void {
  const first = ui.log.firstElementChild;
  if (text === lastLogText && first) {
    lastLogRepeats += 1;
    first.textContent = `${new Date().toLocaleTimeString()} ${text} (×${lastLogRepeats})`;
    return;
  }
  lastLogText = text;
  lastLogRepeats = 1;
  ui.log.prepend(el('li', error ? { class: 'error' } : {}, `${new Date().toLocaleTimeString()} ${text}`));
  while (ui.log.children.length > LOG_LINES) ui.log.lastElementChild?.remove();
}

/** The message of an error and of its causes (a `TidalError`'s message starts with its code). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 4; depth += 1) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← ');
}

/** Shows a failure in the page (and in the console, with its stack). */
function reportError(context: string, error: unknown): void {
  logLine(`${context}: ${describeError(error)}`, true);
  console.error(context, error);
}

window.addEventListener('error', (event) => reportError('uncaught error', event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => reportError('unhandled rejection', event.reason));

// ---- formatting ----------------------------------------------------------

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function formatValue(value: Value): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `bytes[${value.length}]`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** An entity in one line: counters, fields, then sets (with their sizes). */
function describeEntity(entity: Entity | undefined): string {
  if (entity === undefined) return '(none)';
  const parts = [
    ...Object.entries(entity.counters).map(([kind, n]) => `${kind}=${n}`),
    ...Object.entries(entity.fields).map(([field, v]) => `${field}=${formatValue(v)}`),
    ...Object.entries(entity.sets).map(([name, members]) => `${name}{${members.length}}`),
  ];
  return clip(parts.join(' '), 90);
}

/** A tab id short enough for a table cell (the full id is in the cell's title). */
function shortTab(tab: string): string {
  return tab.length <= 10 ? tab : `${tab.slice(0, 8)}…`;
}

// ---- writes --------------------------------------------------------------

/** A write the dashboard issues: its key, how it reads, and how to issue it. */
interface DemoWrite {
  readonly key: string;
  readonly text: string;
  readonly run: (db: TidalDb) => Promise<WriteToken>;
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** A write of the generated load: mostly counter increments, some decrements, labels and tags. */
function randomWrite(): DemoWrite {
  const key = `item:${String(Math.floor(Math.random() * KEYS)).padStart(3, '0')}`;
  const r = Math.random();
  if (r < 0.6) {
    const kind = pick(KINDS);
    const by = 1 + Math.floor(Math.random() * 3);
    return { key, text: `${kind} +${by}`, run: (db) => db.increment(key, kind, by) };
  }
  if (r < 0.7) return { key, text: 'score −1', run: (db) => db.decrement(key, 'score', 1) };
  if (r < 0.9) {
    const label = pick(LABELS);
    return { key, text: `label = ${JSON.stringify(label)}`, run: (db) => db.set(key, 'label', label) };
  }
  const tag = pick(TAGS);
  return { key, text: `tags += ${JSON.stringify(tag)}`, run: (db) => db.add(key, 'tags', tag) };
}

/** What this tab's writes have done so far. */
const load = { issued: 0, acked: 0, failed: 0, inFlight: 0, paused: 0 };
/** This tab's writes in flight per shard (by `ShardRouter`, the placement every tab uses). */
let inFlightByShard: number[] = [];
/** This tab's acknowledged writes, `shard:lsn:key` → how the write reads, oldest first. */
const ownWrites = new Map<string, string>();
let router: ShardRouter | undefined;

function ownWriteId(shard: number, lsn: number, key: string): string {
  return `${shard}:${lsn}:${key}`;
}

/** Issues one write and accounts for it; resolves with whether it was acknowledged (never rejects). */
function issue(db: TidalDb, write: DemoWrite): Promise<boolean> {
  const shard = router?.route(write.key) ?? 0;
  load.issued += 1;
  load.inFlight += 1;
  inFlightByShard[shard] = (inFlightByShard[shard] ?? 0) + 1;
  let written: Promise<WriteToken>;
  try {
    written = write.run(db);
  } catch (error) {
    written = Promise.reject(error);
  }
  return written
    .then(
      (token) => {
        load.acked += 1;
        if (token.shard !== shard) {
          reportError(
            'routing',
            new Error(`${write.key} was written on shard ${token.shard}, but ShardRouter places it on shard ${shard}`),
          );
        }
        ownWrites.set(ownWriteId(token.shard, token.lsn, write.key), write.text);
        if (ownWrites.size > OWN_WRITES) ownWrites.delete(ownWrites.keys().next().value!);
        return true;
      },
      (error: unknown) => {
        load.failed += 1;
        reportError('a write failed', error);
        return false;
      },
    )
    .finally(() => {
      load.inFlight -= 1;
      inFlightByShard[shard] = (inFlightByShard[shard] ?? 1) - 1;
    });
}

function readInteger(input: HTMLInputElement, what: string, max: number): number | undefined {
  const n = Number(input.value);
  if (Number.isSafeInteger(n) && n >= 1 && n <= max) return n;
  logLine(`${what} must be an integer in 1..${max}, got ${JSON.stringify(input.value)}`, true);
  return undefined;
}

// The load: every tick issues the writes due since the last one, all in the
// same tick, so that tidal sends them together (one message per shard).
let loadTimer: ReturnType<typeof setInterval> | undefined;
let loadRate = 0;
let loadDue = 0;
let lastLoadTick = 0;

function loadTick(db: TidalDb): void {
  const now = performance.now();
  // A throttled background tab ticks rarely: catch up at most one second.
  loadDue += (loadRate * Math.min(now - lastLoadTick, 1000)) / 1000;
  lastLoadTick = now;
  const n = Math.floor(loadDue);
  loadDue -= n;
  if (load.inFlight + n > MAX_IN_FLIGHT) {
    load.paused += n;
    return;
  }
  for (let i = 0; i < n; i += 1) void issue(db, randomWrite());
}

function toggleLoad(db: TidalDb): void {
  if (loadTimer !== undefined) {
    clearInterval(loadTimer);
    loadTimer = undefined;
    ui.load.textContent = 'Start load';
    ui.load.setAttribute('aria-pressed', 'false');
    logLine('load stopped');
    return;
  }
  const rate = readInteger(ui.rate, 'the rate', MAX_RATE);
  if (rate === undefined) return;
  loadRate = rate;
  loadDue = 0;
  lastLoadTick = performance.now();
  loadTimer = setInterval(() => loadTick(db), LOAD_TICK_MS);
  ui.load.textContent = 'Stop load';
  ui.load.setAttribute('aria-pressed', 'true');
  logLine(`load started: ${rate} writes/s over ${KEYS} keys`);
}

ui.rate.addEventListener('change', () => {
  if (loadTimer === undefined) return;
  const rate = readInteger(ui.rate, 'the rate', MAX_RATE);
  if (rate !== undefined && rate !== loadRate) {
    loadRate = rate;
    logLine(`load rate: ${rate} writes/s`);
  }
});

async function writeN(db: TidalDb): Promise<void> {
  const n = readInteger(ui.count, 'N', MAX_WRITE_N);
  if (n === undefined) return;
  ui.writeN.disabled = true;
  try {
    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: n }, () => issue(db, randomWrite())));
    const ms = performance.now() - started;
    const failed = outcomes.filter((ok) => !ok).length;
    logLine(`${n} writes acknowledged in ${ms.toFixed(0)} ms` + (failed > 0 ? `; ${failed} failed (see above)` : ''), failed > 0);
  } finally {
    ui.writeN.disabled = false;
  }
}

// ---- faults --------------------------------------------------------------

function faultShard(): number {
  return Number(ui.faultShard.value);
}

function killWorker(db: TidalDb): void {
  const shard = faultShard();
  try {
    db.debug!.killWorker(shard); // opened with { debug: true }
    logLine(`killed shard ${shard}'s worker in this tab: watch it restart and recover`);
  } catch (error) {
    reportError(`killing shard ${shard}'s worker failed`, error);
  }
}

async function corruptNextPayload(db: TidalDb): Promise<void> {
  const shard = faultShard();
  try {
    await db.debug!.corruptNextPayload(shard);
    logLine(`the next payload shard ${shard} ships from this tab carries a flipped byte (the next write to the shard sends it)`);
  } catch (error) {
    reportError(`corrupting shard ${shard}'s next payload failed`, error);
  }
}

/** Only the tab that leads a shard ships its payloads, so only there can the next one be corrupted. */
function updateCorruptButton(rows: readonly ShardRow[]): void {
  const shard = faultShard();
  const role = rows[shard]?.last?.role;
  ui.corrupt.disabled = role !== 'leader';
  ui.corrupt.title =
    role === 'leader'
      ? `Flip a byte in the next payload this tab ships as shard ${shard}'s leader`
      : `This tab does not lead shard ${shard}: corrupt its payloads in the tab that leads it`;
}

// ---- the live view -------------------------------------------------------

/** The cells of one shard's row, updated in place. */
interface ShardRow {
  role: HTMLElement;
  leaderTab: HTMLElement;
  lsn: HTMLElement;
  appliedLsn: HTMLElement;
  lagLsns: HTMLElement;
  lagMs: HTMLElement;
  segments: HTMLElement;
  bytesVerified: HTMLElement;
  payloadsRejected: HTMLElement;
  restarts: HTMLElement;
  last: ShardStats | undefined;
}

function buildShardRows(shards: number): ShardRow[] {
  const rows: ShardRow[] = [];
  const options: HTMLElement[] = [];
  for (let shard = 0; shard < shards; shard += 1) {
    const cell = (numeric = true): HTMLElement => el('td', numeric ? { class: 'num' } : {}, '…');
    const row: ShardRow = {
      role: cell(false),
      leaderTab: cell(false),
      lsn: cell(),
      appliedLsn: cell(),
      lagLsns: cell(),
      lagMs: cell(),
      segments: cell(),
      bytesVerified: cell(),
      payloadsRejected: cell(),
      restarts: cell(),
      last: undefined,
    };
    ui.shards.append(
      el(
        'tr',
        { 'data-shard': String(shard) },
        el('td', { class: 'num' }, String(shard)),
        row.role,
        row.leaderTab,
        row.lsn,
        row.appliedLsn,
        row.lagLsns,
        row.lagMs,
        row.segments,
        row.bytesVerified,
        row.payloadsRejected,
        row.restarts,
      ),
    );
    rows.push(row);
    options.push(el('option', { value: String(shard) }, `shard ${shard}`));
  }
  ui.faultShard.replaceChildren(...options);
  return rows;
}

function setText(cell: HTMLElement, text: string): void {
  if (cell.textContent !== text) cell.textContent = text;
}

/** Flashes a cell whose counter went up. */
function bump(cell: HTMLElement): void {
  cell.classList.add('bumped');
  setTimeout(() => cell.classList.remove('bumped'), 300);
}

function renderStats(stats: TidalStats, rows: readonly ShardRow[]): void {
  for (const s of stats.shards) {
    const row = rows[s.shard];
    if (row === undefined) {
      reportError('stats()', new Error(`stats name shard ${s.shard}, but the database has ${rows.length} shards`));
      continue;
    }
    setText(row.role, s.role);
    row.role.className = s.role;
    // A shard whose worker is (re)starting reports no numbers yet: dim them rather than show zeros as facts.
    row.role.parentElement?.classList.toggle('unknown', s.role === 'starting');
    setText(row.leaderTab, s.leaderTab === undefined ? '—' : s.leaderTab === stats.tab ? 'this tab' : shortTab(s.leaderTab));
    row.leaderTab.title = s.leaderTab ?? 'no leader known yet';
    setText(row.lsn, String(s.lsn));
    setText(row.appliedLsn, String(s.appliedLsn));
    setText(row.lagLsns, String(s.lag.lsns));
    setText(row.lagMs, s.lag.ms.toFixed(0));
    setText(row.segments, s.role === 'leader' ? String(s.segments) : '—');
    setText(row.bytesVerified, formatBytes(s.bytesVerified));
    setText(row.payloadsRejected, String(s.payloadsRejected));
    setText(row.restarts, String(s.restarts));
    if (row.last !== undefined) {
      if (s.payloadsRejected > row.last.payloadsRejected) bump(row.payloadsRejected);
      if (s.restarts > row.last.restarts) bump(row.restarts);
      if (s.role !== row.last.role) bump(row.role);
    }
    row.last = s;
    const option = ui.faultShard.options[s.shard];
    if (option) setText(option, `shard ${s.shard}${s.role === 'leader' ? ' (led by this tab)' : ''}`);
  }
  const leaders = new Set(stats.shards.map((s) => s.leaderTab).filter((tab) => tab !== undefined));
  setText(ui.tab, `· this tab: ${stats.tab} · ${leaders.size} leading tab${leaders.size === 1 ? '' : 's'}`);
}

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

function onChange(change: Change): void {
  changesSeen += 1;
  feedVersion += 1;
  recent.push({ at: Date.now(), change, origin: undefined, write: undefined });
  if (recent.length > RECENT_ROWS) recent.shift();
}

function renderFeed(): void {
  let decided = false;
  for (const entry of recent) {
    if (entry.origin !== undefined) continue;
    const { shard, lsn, key } = entry.change;
    const write = ownWrites.get(ownWriteId(shard, lsn, key));
    if (write !== undefined) {
      entry.origin = 'own';
      entry.write = write;
      decided = true;
    } else if ((inFlightByShard[shard] ?? 0) === 0) {
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

function renderCounters(): void {
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

// ---- start ---------------------------------------------------------------

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
  router = new ShardRouter({ shards: db.shards });
  inFlightByShard = new Array<number>(db.shards).fill(0);
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
