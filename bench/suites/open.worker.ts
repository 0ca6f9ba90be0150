/**
 * The OPFS side of the `open` bench suite (`open.ts`): in a dedicated
 * worker, builds one shard's log of the signal workload as a shard leader
 * does (a `ShardLeader` on a durable `Wal`, fed by a `SessionWriter`, 4,000
 * writes a tick), with snapshots taken by the default policy
 * (`ShardSnapshots`: 8 MiB of log) and the log compacted below the older
 * of the two kept snapshots (FORMAT.md §9.4); then opens it as a new
 * leader does and times each step.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../../src/common/blake3.js';
import { TidalError } from '../../src/common/errors.js';
import { SessionWriter } from '../../src/session/session-writer.js';
import { ShardLeader } from '../../src/session/shard-leader.js';
import { encodeShardSnapshot, restoreShardSnapshot } from '../../src/session/shard-snapshot.js';
import { ShardSnapshots } from '../../src/session/shard-snapshots.js';
import { ShardState } from '../../src/session/shard-state.js';
import type { ClientOperation, WriteToken } from '../../src/session/write.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { databaseIdOf, SnapshotStore } from '../../src/wal/snapshot-store.js';
import { Wal } from '../../src/wal/wal.js';
import { signalWorkload, type SignalWrite } from './db.js';

/** What `build` left on OPFS. */
export interface BuiltShard {
  readonly events: number;
  readonly snapshotLsn: number;
  readonly snapshotBytes: number;
  /** Bytes of every file the shard keeps: segments and snapshots. */
  readonly storageBytes: number;
  readonly logBytes: number;
  readonly segments: number;
  readonly ms: number;
}

/** One timed open. */
export interface OpenRound {
  /** Loading the newest snapshot, verifying every byte, decoding it into the state. */
  readonly snapshotMs: number;
  /** `Wal.open`: scanning and verifying every byte of the log kept after compaction. */
  readonly tailMs: number;
  /** Replaying the log after the snapshot into the state. */
  readonly rebuildMs: number;
  readonly totalMs: number;
}

const ROOT = 'tidal-bench';
const runFolder = `open-${crypto.randomUUID()}`;
const DATABASE = 'bench-open';
const SHARD = 0;
const PER_TICK = 4_000;
let expected: { events: number; state: Uint8Array } | undefined;

function toOperation(write: SignalWrite): ClientOperation {
  return write.op === 'increment'
    ? { op: 'increment', key: write.key, kind: write.kind, by: 1 }
    : { op: 'set', key: write.key, field: 'label', value: write.label };
}

async function folder(events: number): Promise<{ storage: OpfsStorage; store: SnapshotStore }> {
  const storage = await OpfsStorage.open([ROOT, runFolder, `e${events}`]);
  const b3 = await loadBlake3();
  return { storage, store: new SnapshotStore(storage, b3, { shard: SHARD, databaseId: databaseIdOf(b3, DATABASE) }) };
}

const api = {
  async build(events: number, seed: number): Promise<BuiltShard> {
    const started = performance.now();
    const { storage, store } = await folder(events);
    const { wal } = await Wal.open(storage, { shard: SHARD });
    const leader = await ShardLeader.open({ wal, replica: 'bench.0' });
    const snapshots = new ShardSnapshots({ wal, store, state: leader.state });
    const writer = new SessionWriter({ shard: SHARD, link: { write: (request) => leader.write(request) }, maxUnacknowledged: PER_TICK });
    let compactedBelow = 0;
    try {
      const writes = signalWorkload(events, seed);
      for (let i = 0; i < writes.length; i += PER_TICK) {
        const tick: Promise<WriteToken>[] = [];
        for (let j = i; j < Math.min(i + PER_TICK, writes.length); j++) tick.push(writer.write([toOperation(writes[j]!)]));
        await Promise.all(tick);
        snapshots.afterCommit();
        // Retention as FORMAT.md §9.4 says: the log below the older of the two kept snapshots goes.
        const kept = await store.list();
        const older = kept[1];
        if (older && older.lsn > compactedBelow) {
          await wal.compact(older.lsn + 1);
          compactedBelow = older.lsn;
        }
      }
      await snapshots.close();
      if (wal.lastLsn !== events) throw new TidalError('HeaderMismatch', `built ${wal.lastLsn} events, expected ${events}`);
      expected = { events, state: encodeShardSnapshot(leader.state) };
      const kept = await store.list();
      return {
        events,
        snapshotLsn: kept[0]?.lsn ?? 0,
        snapshotBytes: kept[0]?.bytes ?? 0,
        storageBytes: wal.logBytes() + kept.reduce((sum, s) => sum + s.bytes, 0),
        logBytes: wal.logBytes(),
        segments: wal.segments().length,
        ms: performance.now() - started,
      };
    } finally {
      writer.close();
      await wal.close();
    }
  },

  /** Opens the shard built last as a new leader would, times each step, and checks the state it rebuilt. */
  async open(events: number): Promise<OpenRound> {
    if (!expected || expected.events !== events) throw new TidalError('InvalidArgument', `no shard of ${events} events was built`);
    const { storage, store } = await folder(events);
    const started = performance.now();
    const { wal } = await Wal.open(storage, { shard: SHARD });
    const tailDone = performance.now();
    try {
      const state = new ShardState();
      const { snapshot, issues } = await store.loadNewest({ maxLsn: wal.lastLsn });
      if (!snapshot || issues.length > 0)
        throw new TidalError('Corrupt', `no snapshot loaded (${issues.map((i) => i.message).join('; ')})`);
      restoreShardSnapshot(state, snapshot.body, snapshot.lsn);
      const snapshotDone = performance.now();
      for await (const { lsn, event } of wal.read(snapshot.lsn + 1, { verify: false })) state.apply(lsn, event);
      const done = performance.now();
      const rebuilt = encodeShardSnapshot(state);
      if (state.appliedLsn !== events || rebuilt.length !== expected.state.length || !rebuilt.every((b, i) => b === expected!.state[i])) {
        throw new TidalError('Corrupt', `the opened shard's state differs from the built one (applied ${state.appliedLsn} of ${events})`);
      }
      return { tailMs: tailDone - started, snapshotMs: snapshotDone - tailDone, rebuildMs: done - snapshotDone, totalMs: done - started };
    } finally {
      await wal.close();
    }
  },

  async cleanup(): Promise<void> {
    await OpfsStorage.destroy([ROOT, runFolder]);
  },
};

export type OpenBenchWorker = typeof api;
Comlink.expose(api);
