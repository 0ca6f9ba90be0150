/**
 * The db suite: tidal as an application uses it, through the public API
 * (`openTidal`, 4 shards, OPFS, durable: `durability: 'flush'`, the
 * default), on the signal workload: 80 % counter increments over 4 kinds,
 * 20 % label sets (`set(key, 'label', ...)`), over 10k entities
 * (`item-0` .. `item-9999`), from a seeded PRNG (`mulberry32`). A tick's
 * writes to a shard are one WAL write event (merged calls, or a
 * transaction's part).
 *
 * - `db.write.events_per_s`: 100k writes, issued 1,000 at a time in the
 *   same tick and awaited together (`await Promise.all`) before the next
 *   1,000; from the first call to the last acknowledgement. A fresh
 *   database per round; a warm-up round of 20k writes first, then 5 timed
 *   rounds; the median is reported.
 * - `db.transact.events_per_s`: the same, each 1,000 as one `db.transact`.
 * - `db.replicate.events_per_s` (and `db.replicate.transact.events_per_s`,
 *   with `db.transact`): the same 100k writes, issued the same way
 *   in this page, timed until the second tab has applied them all (every
 *   shard's `appliedLsn` there reached the leader's `lsn`; its `stats()`
 *   is polled every 2 ms once the writes are acknowledged). The second
 *   "tab" is an iframe (`db-tab.html`) with its own realm and its own
 *   `openTidal` on the same database: this page leads every shard, the
 *   iframe follows them over BroadcastChannel. A same-origin iframe shares
 *   this page's main thread (as a `window.open`ed tab would), so both
 *   tabs' main-thread work lands on one thread here; the workers are 4 + 4
 *   threads of their own. One database and iframe for all rounds: 20k
 *   writes to warm up, then 5 timed rounds of 100k; the median is
 *   reported. The iframe's state is compared with the expected one at the
 *   end.
 * - `db.replicate.log_bytes_per_event`: log bytes the second tab verified
 *   in the timed replicate rounds, per write (operation) issued.
 * (`db.open.*`, opening a database whose OPFS holds 1M and 5M events, is
 * the open suite's: `open.ts`.)
 *
 * After every timed round the whole state (all 10k entities, by `scan`)
 * is compared with the state the writes must produce, and the shards'
 * LSNs with the number of writes: a fast wrong answer fails the suite.
 * Worker restarts by the database's supervisor are logged with the round
 * they happened in (they are part of what was measured); the checks wait
 * until every shard has its role again (a restarted worker recovers
 * first), and a verification scan lost to a restart is asked again once.
 * Each database has a unique name (`bench-db-...`); its OPFS folder
 * `tidal/<name>` is deleted after it is closed, pass or fail.
 */
import { TidalError, isTidalError } from '../../src/common/errors.js';
import { mulberry32 } from '../../src/common/random.js';
import { ShardRouter, openTidal, type Entity, type TidalDb } from '../../src/index.js';

type Report = (metric: string, value: number, unit: string) => void;

const SHARDS = 4;
const ENTITIES = 10_000;
const EVENTS = 100_000;
const BATCH = 1_000;
const WARMUP_EVENTS = 20_000;
const ROUNDS = 5;
const SEED = 0x5eed;
const POLL_MS = 2;
const SCAN_TIMEOUT_MS = 30_000;
/** Longest the second tab may take to catch up, or a build, before the suite gives up. */
const WAIT_LIMIT_MS = 180_000;
const KINDS = ['view', 'click', 'save', 'skip'] as const;
const LABELS = ['cats', 'dogs', 'news', 'music', 'sports', 'science', 'art', 'travel'] as const;

/** One write of the signal workload. */
export type SignalWrite =
  | { readonly op: 'increment'; readonly key: string; readonly kind: string }
  | { readonly op: 'set'; readonly key: string; readonly label: string };

/** `events` writes of the signal workload over 10k entities (also used by the open suite). */
export function signalWorkload(events: number, seed: number): SignalWrite[] {
  const writes: SignalWrite[] = [];
  for (const write of signalWrites(seed)) {
    if (writes.length === events) break;
    writes.push(write);
  }
  return writes;
}

/** The signal workload as an endless stream: its first `n` writes are `signalWorkload(n, seed)`. */
export function* signalWrites(seed: number): Generator<SignalWrite, never> {
  const random = mulberry32(seed);
  for (;;) {
    const key = `item-${Math.floor(random() * ENTITIES)}`;
    if (random() < 0.8) yield { op: 'increment', key, kind: KINDS[Math.floor(random() * KINDS.length)]! };
    else yield { op: 'set', key, label: LABELS[Math.floor(random() * LABELS.length)]! };
  }
}

/** What an entity must hold after some writes. */
interface ExpectedEntity {
  readonly counters: Map<string, number>;
  label: string | undefined;
}

/** The state `writes` must leave, issued in order (one tab: the last label set wins). */
export class ExpectedState {
  readonly entities = new Map<string, ExpectedEntity>();

  add(writes: Iterable<SignalWrite>): this {
    for (const write of writes) {
      let entity = this.entities.get(write.key);
      if (!entity) this.entities.set(write.key, (entity = { counters: new Map(), label: undefined }));
      if (write.op === 'increment') entity.counters.set(write.kind, (entity.counters.get(write.kind) ?? 0) + 1);
      else entity.label = write.label;
    }
    return this;
  }

  /** Throws `Corrupt` unless `entity` is what `key` must hold. */
  check(key: string, entity: Entity | undefined, where: string): void {
    const expected = this.entities.get(key);
    const wrong = (what: string) => new TidalError('Corrupt', `${where}: ${key} ${what}`);
    if (!expected) {
      if (entity !== undefined) throw wrong('exists but was never written');
      return;
    }
    if (!entity) throw wrong('is missing');
    const counters = Object.entries(entity.counters);
    if (counters.length !== expected.counters.size)
      throw wrong(`has counters ${JSON.stringify(entity.counters)}, expected ${JSON.stringify(Object.fromEntries(expected.counters))}`);
    for (const [kind, value] of counters) {
      if (expected.counters.get(kind) !== value)
        throw wrong(`counter ${kind} is ${value}, expected ${expected.counters.get(kind) ?? 'none'}`);
    }
    if (entity.fields['label'] !== expected.label)
      throw wrong(`label is ${JSON.stringify(entity.fields['label'])}, expected ${JSON.stringify(expected.label)}`);
  }
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round0 = (x: number) => Math.round(x).toString();

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** How writes are issued: one call each (`BATCH` in the same tick), or `BATCH` to a `db.transact`. */
type WriteMode = 'call' | 'transact';

/**
 * Issues `writes` through the public API, `BATCH` at a time, each batch
 * awaited before the next: `BATCH` calls in the same tick (`Promise.all`),
 * or one `db.transact` of `BATCH` operations.
 */
async function writeInBatches(db: TidalDb, writes: readonly SignalWrite[], mode: WriteMode = 'call'): Promise<void> {
  for (let i = 0; i < writes.length; i += BATCH) {
    const end = Math.min(i + BATCH, writes.length);
    if (mode === 'transact') {
      await db.transact((tx) => {
        for (let j = i; j < end; j++) {
          const write = writes[j]!;
          if (write.op === 'increment') tx.increment(write.key, write.kind);
          else tx.set(write.key, 'label', write.label);
        }
      });
      continue;
    }
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < end; j++) {
      const write = writes[j]!;
      batch.push(write.op === 'increment' ? db.increment(write.key, write.kind) : db.set(write.key, 'label', write.label));
    }
    await Promise.all(batch);
  }
}

const router = new ShardRouter({ shards: SHARDS });

/**
 * The WAL events `writeInBatches` makes of `writes`: a tick's writes to a
 * shard are one write event (merged calls, or a transaction's part), so
 * one per shard a batch touches.
 */
function eventsOf(writes: readonly SignalWrite[]): number {
  let events = 0;
  for (let i = 0; i < writes.length; i += BATCH) {
    const shards = new Set<number>();
    for (let j = i; j < Math.min(i + BATCH, writes.length); j++) shards.add(router.route(writes[j]!.key));
    events += shards.size;
  }
  return events;
}

/** Each shard's last LSN as `db` sees it. */
async function shardLsns(db: TidalDb): Promise<number[]> {
  return (await db.stats()).shards.map((s) => s.lsn);
}

/** Throws unless the shards' LSNs add up to `events` (nothing lost, nothing doubled). */
export async function checkEventCount(db: TidalDb, events: number, where: string): Promise<void> {
  const lsns = await shardLsns(db);
  const total = lsns.reduce((a, b) => a + b, 0);
  if (total !== events)
    throw new TidalError('Corrupt', `${where}: the shards hold ${lsns.join(' + ')} = ${total} events, expected ${events}`);
}

/**
 * Resolves once every shard of `db` has role `role` (a worker the
 * supervisor restarted is `starting` until it has recovered), so that the
 * checks after a timed round see the database as a user would once it is
 * up, not a worker halfway through its recovery.
 */
export async function whenSettled(db: TidalDb, role: 'leader' | 'follower'): Promise<void> {
  const deadline = now() + WAIT_LIMIT_MS;
  for (;;) {
    const { shards } = await db.stats();
    if (shards.every((s) => s.role === role)) return;
    if (now() > deadline)
      throw new TidalError('Timeout', `the shards did not all become ${role}s within ${WAIT_LIMIT_MS} ms: ${await describeShards(db)}`);
    await sleep(50);
  }
}

/** Each shard's role, LSNs and restarts, for error messages. */
export async function describeShards(db: TidalDb): Promise<string> {
  const { shards } = await db.stats();
  return (
    `tab ${db.tabId}: ` +
    shards
      .map((s) => `shard ${s.shard} ${s.role} (leader ${s.leaderTab}), lsn ${s.lsn}, applied ${s.appliedLsn}, ${s.restarts} restarts`)
      .join('; ')
  );
}

/** Workers the database's supervisor restarted (a call in flight to a replaced worker is lost until its timeout). */
async function restarts(db: TidalDb): Promise<number> {
  return (await db.stats()).shards.reduce((sum, s) => sum + s.restarts, 0);
}

/** `''`, or a note that workers were restarted (logged with each round: it is part of what was measured). */
export async function restartNote(db: TidalDb): Promise<string> {
  const count = await restarts(db);
  return count === 0 ? '' : ` (the supervisor restarted ${count} worker(s) meanwhile)`;
}

/**
 * Compares every entity `db` holds (by `scan`) with `expected`. A scan
 * lost to a worker restart (it times out) is asked again, once.
 */
export async function checkState(db: TidalDb, expected: ExpectedState, where: string): Promise<void> {
  const scan = () => db.scan('item-', { limit: ENTITIES, timeoutMs: SCAN_TIMEOUT_MS });
  let rows: Awaited<ReturnType<typeof scan>>;
  try {
    rows = await scan();
  } catch (error) {
    const count = await restarts(db);
    if (!isTidalError(error, 'Timeout') || count === 0) throw error;
    console.warn(`db: ${where}: a scan timed out after ${count} worker restart(s); asking again`);
    rows = await scan();
  }
  if (rows.length !== expected.entities.size)
    throw new TidalError('Corrupt', `${where}: ${rows.length} entities, expected ${expected.entities.size}`);
  for (const { key, entity } of rows) expected.check(key, entity, where);
}

/** Deletes the database's OPFS folder `tidal/<name>` (after it is closed); retries while handles are let go. */
export async function deleteDatabase(name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const tidal = await (await navigator.storage.getDirectory()).getDirectoryHandle('tidal');
      await tidal.removeEntry(name, { recursive: true });
      return;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFoundError') return;
      if (attempt >= 20) {
        console.warn(`db: could not delete OPFS tidal/${name}: ${String(error)}`);
        return;
      }
      await sleep(100);
    }
  }
}

const uniqueName = (what: string) => `bench-db-${what}-${crypto.randomUUID()}`;

// ---------------------------------------------------------------- writes

async function measureWrite(report: Report, workload: readonly SignalWrite[], mode: WriteMode): Promise<void> {
  const expected = new ExpectedState().add(workload);
  const rates: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const warmUp = round === 0;
    const writes = warmUp ? workload.slice(0, WARMUP_EVENTS) : workload;
    const name = uniqueName('write');
    const db = await openTidal({ name, shards: SHARDS, storage: 'opfs', durability: 'flush' });
    try {
      if (db.storage !== 'opfs') throw new TidalError('StorageError', `the database fell back to ${db.storage} storage`);
      const started = now();
      await writeInBatches(db, writes, mode);
      const ms = now() - started;
      await whenSettled(db, 'leader');
      await checkEventCount(db, eventsOf(writes), `${mode} write round ${round}`);
      if (warmUp) continue;
      await checkState(db, expected, `${mode} write round ${round}`);
      rates.push(writes.length / (ms / 1000));
      const note = await restartNote(db);
      if (note) console.log(`db: ${mode} write round ${round}${note}`);
    } finally {
      await db.close();
      await deleteDatabase(name);
    }
  }
  console.log(`db: ${mode} write rounds (events/s): ${rates.map(round0).join(', ')}`);
  report(mode === 'call' ? 'db.write.events_per_s' : 'db.transact.events_per_s', median(rates), 'events/s');
}

// ----------------------------------------------------------- replication

/** Opens the database in a second browsing context (an iframe of db-tab.html). */
async function openSecondTab(name: string): Promise<{ db: TidalDb; frame: HTMLIFrameElement }> {
  const frame = document.createElement('iframe');
  frame.title = `second tab of ${name}`;
  frame.width = '320';
  frame.height = '40';
  const loaded = new Promise<void>((resolve, reject) => {
    frame.onload = () => resolve();
    frame.onerror = () => reject(new TidalError('Closed', 'the second tab (db-tab.html) did not load'));
  });
  const url = new URL('./db-tab.html', import.meta.url); // a static literal: Vite rewrites templates here
  url.searchParams.set('name', name);
  url.searchParams.set('shards', String(SHARDS));
  frame.src = url.href;
  document.body.append(frame);
  try {
    await loaded;
    const ready = (frame.contentWindow as (Window & { tidalReady?: Promise<TidalDb> }) | null)?.tidalReady;
    if (!ready) throw new TidalError('Closed', 'the second tab has no database (db-tab.html did not run its script)');
    return { db: await ready, frame };
  } catch (error) {
    frame.remove();
    throw error;
  }
}

/** Resolves once every shard of `follower` has applied up to `lsns`. */
async function whenApplied(follower: TidalDb, lsns: readonly number[]): Promise<void> {
  const deadline = now() + WAIT_LIMIT_MS;
  for (;;) {
    const { shards } = await follower.stats();
    if (shards.every((s, i) => s.appliedLsn >= lsns[i]!)) return;
    if (now() > deadline) {
      throw new TidalError(
        'Timeout',
        `the second tab applied ${shards.map((s) => s.appliedLsn).join(', ')} of ${lsns.join(', ')} within ${WAIT_LIMIT_MS} ms`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function measureReplicate(report: Report, workload: readonly SignalWrite[]): Promise<void> {
  const name = uniqueName('replicate');
  const expected = new ExpectedState();
  const leader = await openTidal({ name, shards: SHARDS, storage: 'opfs', durability: 'flush' });
  let second: { db: TidalDb; frame: HTMLIFrameElement } | undefined;
  try {
    second = await openSecondTab(name);
    const roles = (await second.db.stats()).shards.map((s) => `${s.role}:${s.leaderTab === leader.tabId ? 'us' : s.leaderTab}`);
    if (roles.some((r) => r !== 'follower:us'))
      throw new TidalError('Closed', `the second tab should follow this page on every shard, got ${roles.join(', ')}`);

    const warmUp = workload.slice(0, WARMUP_EVENTS);
    await writeInBatches(leader, warmUp);
    expected.add(warmUp);
    await whenApplied(second.db, await shardLsns(leader));

    let events = eventsOf(warmUp);
    const verifiedBefore = (await second.db.stats()).shards.reduce((sum, s) => sum + s.bytesVerified, 0);
    for (const mode of ['call', 'transact'] as const) {
      const rates: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const started = now();
        await writeInBatches(leader, workload, mode);
        const written = now() - started;
        const lsns = await shardLsns(leader);
        const behind = (await second.db.stats()).shards.reduce((sum, s, i) => sum + lsns[i]! - s.appliedLsn, 0);
        await whenApplied(second.db, lsns);
        const ms = now() - started;
        expected.add(workload);
        events += eventsOf(workload);
        rates.push(workload.length / (ms / 1000));
        console.log(
          `db: replicate ${mode} round ${round}: writes acknowledged after ${round0(written)} ms (${behind} write events still to apply in the second tab), all applied there after ${round0(ms)} ms${await restartNote(leader)}${await restartNote(second.db)}`,
        );
      }
      console.log(`db: replicate ${mode} rounds (events/s): ${rates.map(round0).join(', ')}`);
      report(mode === 'call' ? 'db.replicate.events_per_s' : 'db.replicate.transact.events_per_s', median(rates), 'events/s');
    }
    // Log bytes the second tab verified per operation written in the timed rounds (what crossed to it).
    const verified = (await second.db.stats()).shards.reduce((sum, s) => sum + s.bytesVerified, 0) - verifiedBefore;
    report('db.replicate.log_bytes_per_event', verified / (2 * ROUNDS * workload.length), 'B');
    await whenSettled(leader, 'leader');
    await whenSettled(second.db, 'follower');
    await whenApplied(second.db, await shardLsns(leader));
    await checkEventCount(leader, events, 'replicate, leader');
    await checkState(second.db, expected, 'replicate, second tab');
    const stats = await second.db.stats();
    const rejected = stats.shards.reduce((sum, s) => sum + s.payloadsRejected, 0);
    if (rejected > 0) throw new TidalError('Corrupt', `the second tab rejected ${rejected} payloads on clean links`);
    console.log(`db: the second tab verified ${stats.shards.reduce((sum, s) => sum + s.bytesVerified, 0)} bytes in all`);
  } finally {
    // The second tab first: were it still open when this page lets go, it would take the lead and hold the files.
    if (second) {
      await second.db.close();
      second.frame.remove();
    }
    await leader.close();
    await deleteDatabase(name);
  }
}

/** Measures the db metrics; see the module comment for each. */
export async function run(report: Report): Promise<void> {
  const workload = signalWorkload(EVENTS, SEED);
  await measureWrite(report, workload, 'call');
  await measureWrite(report, workload, 'transact');
  await measureReplicate(report, workload);
}
