/**
 * The write load the inspector generates: random increments, decrements,
 * labels and tags over `item:000`…, at a rate or N at once, each write
 * accounted for (acknowledged, failed, in flight per shard) and remembered
 * by its LSN, so that the recent-writes table tells this tab's writes from
 * other tabs'.
 */
import { ShardRouter, type TidalDb, type WriteToken } from '../../src/index.js';
import { logLine, reportError } from './log.js';
import { KEYS, KINDS, LABELS, LOAD_TICK_MS, MAX_IN_FLIGHT, MAX_RATE, MAX_WRITE_N, OWN_WRITES, TAGS, ui } from './page.js';

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
export const load = { issued: 0, acked: 0, failed: 0, inFlight: 0, paused: 0 };
/** This tab's writes in flight per shard (by `ShardRouter`, the placement every tab uses). */
let inFlightByShard: number[] = [];
/** This tab's acknowledged writes, `shard:lsn:key` → how the write reads, oldest first. */
export const ownWrites = new Map<string, string>();
let router: ShardRouter | undefined;

export function ownWriteId(shard: number, lsn: number, key: string): string {
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

export function toggleLoad(db: TidalDb): void {
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

export async function writeN(db: TidalDb): Promise<void> {
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

/** Sets up the load for `db`: placement by ShardRouter, per-shard in-flight counts, the rate control. */
export function initLoad(db: TidalDb): void {
  router = new ShardRouter({ shards: db.shards });
  inFlightByShard = new Array<number>(db.shards).fill(0);
}

/** This tab's writes to `shard` not yet acknowledged. */
export function inFlightTo(shard: number): number {
  return inFlightByShard[shard] ?? 0;
}
