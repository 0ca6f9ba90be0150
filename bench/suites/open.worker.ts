/**
 * The OPFS side of the open suites (`open.ts`, `open-storage.ts`): in a
 * dedicated worker, writes the signal workload into a database's OPFS
 * folder through the shard API, exactly as a database's shard leader
 * writes it, only without the page: per shard a durable `Wal` (default
 * segment bound), a `ShardLeader` that admits each tick's writes as one
 * `writeBatch` (each write its own event, one LSN), its snapshots taken by
 * the default policy (`ShardSnapshots`) and the log compacted after each
 * one, as the shard host does (docs/FORMAT.md §9.4). What it leaves is what
 * `openTidal` would have left for the same writes; `extend` continues a
 * database it built before (from its snapshot and log, as a new leader
 * opens it), so the 5M-event database is the 1M one written on.
 *
 * The log below the older of the two snapshots a shard keeps is compacted
 * away, and an open never reads it: so `extend` builds that part of the
 * history faster (`bulkApply`), by applying the writes to each shard's
 * state as its leader would log them (each write one event, one LSN,
 * stamped by an HLC, its session recorded in the idempotency store),
 * without logging them one batch at a time; it then writes the state as a
 * snapshot through the real `SnapshotStore` and starts the shard's log over
 * after it (`Wal.restartAfter`, as a follower does when it installs one).
 * The last `LEADER_WRITTEN_EVENTS` go through the shard API as above, with
 * the default snapshot policy and compaction, so each shard ends as a
 * leader leaves it in steady state: two snapshots (neither of them the
 * bulk's) and the log from the older one on. Building 5M events through the
 * shard API took over 8 minutes.
 *
 * `soak` writes one shard's log of many events the same way and checks,
 * every 100k events and at the end, that what the shard keeps on OPFS
 * stays within the bound of issue 13: two snapshots (twice the newest),
 * the open segment and the segment bound. A run that breaks the bound
 * fails; it reports no figure.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../../src/common/blake3.js';
import { TidalError } from '../../src/common/errors.js';
import { ShardRouter } from '../../src/shard/router.js';
import { ShardLeader } from '../../src/session/shard-leader.js';
import { ShardSnapshots } from '../../src/session/shard-snapshots.js';
import { restoreFromSnapshot } from '../../src/session/snapshot-restore.js';
import { ShardState } from '../../src/session/shard-state.js';
import { encodeShardSnapshot } from '../../src/session/shard-snapshot.js';
import type { ClientOperation, WriteEvent, WriteRequest } from '../../src/session/write.js';
import { HLC } from '../../src/crdt/hlc.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { WalSegmentId } from '../../src/wal/segment-id.js';
import { databaseIdOf, SnapshotStore } from '../../src/wal/snapshot-store.js';
import type { WalStorage } from '../../src/wal/storage.js';
import { Wal } from '../../src/wal/wal.js';
import { signalWrites, type SignalWrite } from './db.js';

/** Writes issued together, as a tick of a busy tab: one `writeBatch` per shard. */
const PER_TICK = 4_000;
/** The WAL's default segment bound (`WalOptions.segmentBytes`). */
const SEGMENT_BOUND_BYTES = 4 * 1024 * 1024;
const SOAK_CHECK_EVERY = 100_000;
/**
 * Writes at the end of `extend` that go through the shard API: 75k a shard,
 * some 4 MiB of log, past several snapshots of the default policy (one
 * every 512 KiB of log while the snapshot is under 512 KiB).
 */
const LEADER_WRITTEN_EVENTS = 300_000;

/** What `extend` left on OPFS. */
export interface BuiltDatabase {
  /** Last LSN of each shard (one write is one event). */
  readonly lsns: number[];
  /** Per shard: its newest snapshot's LSN and size, and the bytes of log it keeps. */
  readonly shards: { readonly snapshotLsn: number; readonly snapshotBytes: number; readonly logBytes: number }[];
  readonly ms: number;
}

/** What `soak` measured. */
export interface SoakResult {
  readonly events: number;
  /** Every byte the shard keeps at the end: segments and snapshots. */
  readonly storageBytes: number;
  readonly snapshotBytes: number;
  readonly snapshots: number;
  readonly segments: number;
  readonly openSegmentBytes: number;
  /** The bound at the end: twice the newest snapshot, the open segment and the segment bound. */
  readonly boundBytes: number;
  /** The largest share of its bound the footprint reached at any check. */
  readonly worstShareOfBound: number;
  readonly checks: number;
  readonly ms: number;
}

function toOperation(write: SignalWrite): ClientOperation {
  return write.op === 'increment'
    ? { op: 'increment', key: write.key, kind: write.kind, by: 1 }
    : { op: 'set', key: write.key, field: 'label', value: write.label };
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One shard written as its leader writes it: log, state, snapshots, one writer session. */
class ShardWriter {
  private readonly session = randomHex(16);
  private readonly startedAt = Date.now();
  private seq = 0;
  private acked = 0;
  private readonly wal: Wal;
  private readonly leader: ShardLeader;
  readonly snapshots: ShardSnapshots;
  readonly store: SnapshotStore;

  private constructor(wal: Wal, leader: ShardLeader, snapshots: ShardSnapshots, store: SnapshotStore) {
    this.wal = wal;
    this.leader = leader;
    this.snapshots = snapshots;
    this.store = store;
  }

  /** Opens shard `shard` of database `db` on `storage` as a new leader does: the newest snapshot and the log after it. */
  static async open(storage: WalStorage, db: string, shard: number, replica: string): Promise<ShardWriter> {
    const b3 = await loadBlake3();
    const { wal } = await Wal.open(storage, { shard, durable: true });
    const store = new SnapshotStore(storage, b3, { shard, databaseId: databaseIdOf(b3, db) });
    const state = new ShardState();
    const restored = await restoreFromSnapshot({ wal, store, state });
    const snapshots = new ShardSnapshots({
      wal,
      store,
      state,
      ...(restored.snapshotLsn > 0
        ? { latest: { name: restored.snapshotFile, lsn: restored.snapshotLsn, bytes: restored.snapshotBytes } }
        : {}),
    });
    await snapshots.listKept();
    wal.onCommit(() => snapshots.afterCommit());
    const leader = await ShardLeader.open({ wal, replica, state });
    return new ShardWriter(wal, leader, snapshots, store);
  }

  get lastLsn(): number {
    return this.wal.lastLsn;
  }

  /** The tick's writes to this shard, admitted together; throws if any is refused. */
  async write(writes: readonly SignalWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const requests: WriteRequest[] = writes.map((write) => ({
      session: this.session,
      startedAt: this.startedAt,
      seq: ++this.seq,
      acked: this.acked,
      ops: [toOperation(write)],
    }));
    for (const outcome of await this.leader.writeBatch(requests)) if (!outcome.ok) throw outcome.error;
    this.acked = this.seq;
  }

  /** Every byte this shard keeps (segments, snapshots), after any snapshot under way; throws on a file it cannot account for. */
  async footprint(
    storage: WalStorage,
  ): Promise<{ bytes: number; snapshotBytes: number; snapshots: number; segments: number; openSegmentBytes: number }> {
    await this.snapshots.settled();
    const segments = this.wal.segments();
    const kept = await this.store.list();
    const known = new Set([...segments.map((s) => s.id.fileName()), ...kept.map((s) => s.name)]);
    // The next segment's file, opened ahead once the open one is half full (src/wal/segment-spare.ts): empty until the roll.
    const last = segments.at(-1);
    if (last) known.add(new WalSegmentId(last.id.shard, last.id.seq + 1n).fileName());
    // Every file of this shard (segments, snapshots, and anything else named after it: a .tmp, a quarantined file) is counted.
    const prefix = `${this.wal.shard.toString(16).padStart(4, '0')}-`;
    for (const name of await storage.list()) {
      // Lock terms (src/worker/lock-terms.ts) are empty files named after the shard too: no bytes to count.
      if (name.endsWith('.term')) continue;
      if (name.startsWith(prefix) && !known.has(name))
        throw new TidalError('Corrupt', `the shard keeps a file the footprint does not count: ${name}`);
    }
    const open = segments[segments.length - 1];
    return {
      bytes: segments.reduce((sum, s) => sum + s.bytes, 0) + kept.reduce((sum, s) => sum + s.bytes, 0),
      snapshotBytes: kept[0]?.bytes ?? 0,
      snapshots: kept.length,
      segments: segments.length,
      openSegmentBytes: open && !open.sealed ? open.bytes : 0,
    };
  }

  async close(): Promise<void> {
    await this.snapshots.close();
    await this.wal.close();
  }
}

/**
 * Lets the worker's queued tasks run between ticks, as a shard host's do
 * between the messages that bring its writes. Without it the write loop
 * runs on microtasks alone, and the snapshot being written (its OPFS calls
 * resolve as tasks) waits until the loop ends: the log then grows without
 * a snapshot to compact it to.
 */
const tickPort = new MessageChannel();
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    tickPort.port1.onmessage = () => resolve();
    tickPort.port2.postMessage(null);
  });
}

/** Writes of the workload `seed` from the `from`-th on, `PER_TICK` at a time. */
function* ticks(seed: number, from: number, to: number): Generator<SignalWrite[]> {
  const writes = signalWrites(seed);
  for (let i = 0; i < from; i++) writes.next();
  for (let at = from; at < to; at += PER_TICK) {
    const tick: SignalWrite[] = [];
    for (let i = at; i < Math.min(to, at + PER_TICK); i++) tick.push(writes.next().value);
    yield tick;
  }
}

/** The highest HLC `state` holds (what a leader's clock starts from, and a snapshot's `hlcHigh`). */
function maxHlc(state: ShardState): bigint {
  let max = 0n;
  for (const [, entity] of state.crdt.entityEntries()) if (entity.maxHlc() > max) max = entity.maxHlc();
  return max;
}

/**
 * Writes the workload `seed` on from what the database holds until it holds
 * `to` events (nothing if it holds as many already), into the shards' states directly
 * (see the module comment): per shard, the newest snapshot and the log
 * after it are loaded as an open loads them, each write is applied as the
 * event its leader would log (`ShardState.applyEvent`), and the state is
 * written as a snapshot at its last LSN, the log started over after it and
 * the older snapshots pruned (their log is gone).
 */
async function bulkApply(
  storage: WalStorage,
  name: string,
  router: ShardRouter,
  replicaPrefix: string,
  seed: number,
  to: number,
): Promise<void> {
  const b3 = await loadBlake3();
  const shards: { wal: Wal; store: SnapshotStore; state: ShardState; hlc: HLC; session: string; seq: number; replica: string }[] = [];
  try {
    for (let shard = 0; shard < router.shards; shard++) {
      const { wal } = await Wal.open(storage, { shard, durable: true });
      const store = new SnapshotStore(storage, b3, { shard, databaseId: databaseIdOf(b3, name) });
      const state = new ShardState();
      try {
        await restoreFromSnapshot({ wal, store, state });
      } catch (error) {
        await wal.close();
        throw error;
      }
      // The clock starts past every stamp the state holds, as a leader's does.
      const hlc = new HLC({ initial: maxHlc(state) });
      shards.push({ wal, store, state, hlc, session: randomHex(16), seq: 0, replica: `${replicaPrefix}.${shard}` });
    }
    const from = shards.reduce((sum, s) => sum + s.state.appliedLsn, 0);
    if (from >= to) return;
    const startedAt = Date.now();
    const writes = signalWrites(seed);
    for (let i = 0; i < from; i++) writes.next();
    for (let i = from; i < to; i++) {
      const write = writes.next().value;
      const shard = shards[router.route(write.key)]!;
      const hlc = shard.hlc.reserve(1);
      const seq = ++shard.seq;
      const event: WriteEvent = {
        t: 'write',
        session: shard.session,
        startedAt,
        seq,
        acked: seq - 1,
        at: Date.now(),
        ops: [
          write.op === 'increment'
            ? { op: 'increment', key: write.key, kind: write.kind, by: 1, replica: shard.replica, hlc }
            : { op: 'set', key: write.key, field: 'label', value: write.label, replica: shard.replica, hlc },
        ],
      };
      shard.state.applyEvent(shard.state.appliedLsn + 1, event);
    }
    for (const { wal, store, state } of shards) {
      const lsn = state.appliedLsn;
      if (lsn === wal.lastLsn) continue;
      await store.write({ lsn, hlcHigh: maxHlc(state), body: encodeShardSnapshot(state) });
      await wal.restartAfter(lsn);
      await store.prune(1);
    }
  } finally {
    for (const { wal } of shards) await wal.close();
  }
}

const api = {
  /**
   * Writes the workload `seed` into database `name` (OPFS `tidal/<name>`,
   * `shards` shards placed by `ShardRouter`, as `openTidal` places them)
   * until it holds `events` events, continuing what it holds.
   */
  async extend(name: string, shards: number, events: number, seed: number): Promise<BuiltDatabase> {
    const started = performance.now();
    const router = new ShardRouter({ shards });
    const storage = await OpfsStorage.open(['tidal', name]);
    const tab = randomHex(8);
    const writers: ShardWriter[] = [];
    try {
      await bulkApply(storage, name, router, tab, seed, events - LEADER_WRITTEN_EVENTS);
      for (let shard = 0; shard < shards; shard++) writers.push(await ShardWriter.open(storage, name, shard, `${tab}.${shard}`));
      for (const tick of ticks(
        seed,
        writers.reduce((sum, w) => sum + w.lastLsn, 0),
        events,
      )) {
        const perShard: SignalWrite[][] = writers.map(() => []);
        for (const write of tick) perShard[router.route(write.key)]!.push(write);
        await Promise.all(writers.map((writer, shard) => writer.write(perShard[shard]!)));
        await nextTask();
      }
      const lsns = writers.map((w) => w.lastLsn);
      if (lsns.reduce((a, b) => a + b, 0) !== events)
        throw new TidalError('HeaderMismatch', `built ${lsns.join(' + ')} events, expected ${events}`);
      const footprints = await Promise.all(writers.map((w) => w.footprint(storage)));
      const kept = await Promise.all(writers.map((w) => w.store.list()));
      return {
        lsns,
        shards: footprints.map((f, i) => ({
          snapshotLsn: kept[i]![0]?.lsn ?? 0,
          snapshotBytes: f.snapshotBytes,
          logBytes: f.bytes - kept[i]!.reduce((sum, s) => sum + s.bytes, 0),
        })),
        ms: performance.now() - started,
      };
    } finally {
      for (const writer of writers) await writer.close();
    }
  },

  /**
   * Writes `events` events of the workload `seed` to one shard in OPFS
   * folder `path`, checking the storage bound every 100k events and at the
   * end (see the module comment); deletes the folder afterwards.
   */
  async soak(path: string[], events: number, seed: number): Promise<SoakResult> {
    const started = performance.now();
    const storage = await OpfsStorage.open(path);
    const writer = await ShardWriter.open(storage, 'bench-storage', 0, `${randomHex(8)}.0`);
    let worst = 0;
    let checks = 0;
    const check = async () => {
      const f = await writer.footprint(storage);
      const bound = 2 * f.snapshotBytes + f.openSegmentBytes + SEGMENT_BOUND_BYTES;
      checks++;
      worst = Math.max(worst, f.bytes / bound);
      if (f.bytes > bound) {
        throw new TidalError(
          'LengthOutOfBounds',
          `after ${writer.lastLsn} events the shard keeps ${f.bytes} bytes (${f.snapshots} snapshots, newest ${f.snapshotBytes} bytes; ${f.segments} segments, the open one ${f.openSegmentBytes} bytes): over its bound of ${bound} bytes${writer.snapshots.lastError ? ` (the last snapshot failed: ${String(writer.snapshots.lastError)})` : ''}`,
        );
      }
      return { ...f, bound };
    };
    try {
      let nextCheck = SOAK_CHECK_EVERY;
      for (const tick of ticks(seed, 0, events)) {
        await writer.write(tick);
        await nextTask();
        if (writer.lastLsn >= nextCheck) {
          await check();
          nextCheck += SOAK_CHECK_EVERY;
        }
      }
      if (writer.lastLsn !== events) throw new TidalError('HeaderMismatch', `wrote ${writer.lastLsn} events, expected ${events}`);
      const end = await check();
      return {
        events,
        storageBytes: end.bytes,
        snapshotBytes: end.snapshotBytes,
        snapshots: end.snapshots,
        segments: end.segments,
        openSegmentBytes: end.openSegmentBytes,
        boundBytes: end.bound,
        worstShareOfBound: worst,
        checks,
        ms: performance.now() - started,
      };
    } finally {
      await writer.close();
      await OpfsStorage.destroy(path).catch(() => undefined);
    }
  },
};

export type OpenBenchWorker = typeof api;
Comlink.expose(api);
