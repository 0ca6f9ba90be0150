import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { databaseIdOf, SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal } from '../wal/wal.js';
import { ShardLeader } from './shard-leader.js';
import { encodeShardSnapshot } from './shard-snapshot.js';
import { MIN_SNAPSHOT_LOG_BYTES, ShardSnapshots } from './shard-snapshots.js';
import { restoreFromSnapshot } from './snapshot-restore.js';
import { ShardState } from './shard-state.js';
import { mixedWrites, writeRounds } from './testing/mixed-writes.js';

const b3 = await loadBlake3();
const databaseId = databaseIdOf(b3, 'db');
const noYield = async () => undefined;
const request = mixedWrites({ entities: 50, startedAt: Date.now() });
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

async function fullReplay(wal: Wal): Promise<ShardState> {
  const state = new ShardState();
  for await (const { lsn, event } of wal.read(1)) state.apply(lsn, event);
  return state;
}

/** A leader on memory storage whose snapshots are taken when asked (`policy.logBytes` 1). */
async function snapshottingLeader(segmentBytes: number, replica: string, chunkBytes?: number) {
  const storage = new MemoryStorage();
  const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, chunkBytes, yieldToEvents: noYield });
  const { wal } = await Wal.open(storage, { shard: 0, segmentBytes });
  const leader = await ShardLeader.open({ wal, replica });
  const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 1 } });
  return { storage, store, wal, leader, snapshots };
}

describe('shard snapshots', () => {
  it('a shard opened from its snapshot and the log after it equals one that replayed the whole log, byte for byte, and stays exactly-once', async () => {
    const setup = await snapshottingLeader(8192, 'leader-1', 512);
    const { storage, store, leader, snapshots } = setup;
    let { wal } = setup;
    await writeRounds(leader, request, 5, 1, 40);
    const taken = await snapshots.snapshotNow();
    expect(taken?.lsn).toBe(200);
    await writeRounds(leader, request, 5, 41, 60);
    await snapshots.close();
    await wal.close();

    ({ wal } = await Wal.open(storage, { shard: 0, segmentBytes: 8192 }));
    const restored = new ShardState();
    const opened = await restoreFromSnapshot({ wal, store, state: restored });
    expect(opened).toMatchObject({ snapshotLsn: 200, replayedEvents: 100, issues: [] });
    expect(hex(encodeShardSnapshot(restored))).toBe(hex(encodeShardSnapshot(await fullReplay(wal))));
    expect(restored.crdt.equals(leader.state.crdt)).toBe(true);

    // The idempotency store came through the snapshot: a retry of a write before it gets its token back, once.
    const promoted = await ShardLeader.open({ wal, replica: 'leader-2', state: restored });
    // Session s's write n went in at LSN (n - 1) * 5 + s + 1; its last write (60) is not yet acknowledged by the writer.
    const [outcome] = await promoted.writeBatch([request(2, 60)]);
    expect(outcome).toMatchObject({ ok: true, token: { lsn: 59 * 5 + 3 } });
    expect(promoted.state.appliedLsn).toBe(300);
    const [keyed] = await promoted.writeBatch([{ ...request(9, 1), ops: request(9, 1).ops, idempotencyKey: 'k-1-35' }]);
    expect(keyed).toMatchObject({ ok: true, token: { lsn: 34 * 5 + 2 } });
    // Nothing of it applied again; only its SeqNo is taken, as an empty write, so that session 9 writes on.
    expect(promoted.state.appliedLsn).toBe(301);
    expect(promoted.state.crdt.equals(leader.state.crdt)).toBe(true);
    const [next] = await promoted.writeBatch([request(9, 2)]);
    expect(next).toMatchObject({ ok: true, token: { lsn: 302 } });
    await wal.close();
  });

  it('a newest snapshot that fails verification is quarantined and reported; the older one and the log rebuild the same state', async () => {
    const setup = await snapshottingLeader(10240, 'l');
    const { storage, store, leader, snapshots } = setup;
    let { wal } = setup;
    // About 720 bytes a round: 14 rounds a segment. The log from the older snapshot on fits in one sealed segment and the open one.
    await writeRounds(leader, request, 4, 1, 40);
    const older = await snapshots.snapshotNow();
    await writeRounds(leader, request, 4, 41, 50);
    const newer = await snapshots.snapshotNow();
    await writeRounds(leader, request, 4, 51, 55);
    expect((await store.list()).map((s) => s.lsn)).toEqual([newer!.lsn, older!.lsn]);
    // The second snapshot compacted the log wholly below the older one (no longer needed), and no further.
    expect(wal.firstLsn).toBeGreaterThan(1);
    expect(wal.firstLsn).toBeLessThanOrEqual(older!.lsn + 1);
    expect(await wal.compact(older!.lsn + 1)).toEqual([]);
    await wal.close();
    const bytes = storage.snapshot(newer!.name);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 4;
    storage.put(newer!.name, bytes);

    ({ wal } = await Wal.open(storage, { shard: 0, segmentBytes: 10240 }));
    const restored = new ShardState();
    const opened = await restoreFromSnapshot({ wal, store, state: restored });
    expect(opened.snapshotLsn).toBe(older!.lsn);
    expect(opened.issues).toMatchObject([{ code: 'Corrupt', file: newer!.name }]);
    expect(restored.appliedLsn).toBe(220);
    expect(restored.crdt.equals(leader.state.crdt)).toBe(true);
    expect(hex(encodeShardSnapshot(restored))).toBe(hex(encodeShardSnapshot(leader.state)));
    // Without any snapshot, the compacted log cannot rebuild the state: refused, nothing applied.
    for (const info of await store.list()) await storage.remove(info.name);
    await expect(restoreFromSnapshot({ wal, store, state: new ShardState() })).rejects.toMatchObject({ code: 'Corrupt' });
    await wal.close();
  });

  it('the log kept holds at most one sealed segment besides the open one: below the newest snapshot when the older one would need more', async () => {
    const setup = await snapshottingLeader(4096, 'l');
    const { storage, store, leader, snapshots } = setup;
    let { wal } = setup;
    // About 720 bytes a round, 5 rounds a segment: the log from the older snapshot on spans four segments.
    await writeRounds(leader, request, 4, 1, 20);
    const older = await snapshots.snapshotNow();
    await writeRounds(leader, request, 4, 21, 40);
    const newer = await snapshots.snapshotNow();
    expect(wal.segments().filter((s) => s.sealed).length).toBeLessThanOrEqual(1);
    expect(wal.firstLsn).toBeGreaterThan(older!.lsn + 1);
    expect(wal.firstLsn).toBeLessThanOrEqual(newer!.lsn + 1);
    await writeRounds(leader, request, 4, 41, 45);
    await wal.close();

    // The older snapshot, which the log no longer reaches back to, is gone; the newest and the log after it rebuild the state.
    expect((await store.list()).map((s) => s.lsn)).toEqual([newer!.lsn]);
    ({ wal } = await Wal.open(storage, { shard: 0, segmentBytes: 4096 }));
    const restored = new ShardState();
    expect(await restoreFromSnapshot({ wal, store, state: restored })).toMatchObject({ snapshotLsn: newer!.lsn, issues: [] });
    expect(hex(encodeShardSnapshot(restored))).toBe(hex(encodeShardSnapshot(leader.state)));
    const bytes = storage.snapshot(newer!.name);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 4;
    storage.put(newer!.name, bytes);
    const refused = new ShardState();
    await expect(restoreFromSnapshot({ wal, store, state: refused })).rejects.toMatchObject({ code: 'Corrupt' });
    expect(refused.appliedLsn).toBe(0); // nothing applied
    await wal.close();
  });

  it('a state that shrank keeps its older, larger snapshot as the fallback until the next snapshot replaces it', async () => {
    const setup = await snapshottingLeader(4096, 'l');
    const { storage, store, leader, snapshots } = setup;
    let { wal } = setup;
    await writeRounds(leader, request, 4, 1, 10);
    const large = await snapshots.snapshotNow();
    // The state shrinks (as when its idempotency store forgets sessions): here its CRDT state starts over, smaller.
    leader.state.crdt = new CrdtSignalState();
    await writeRounds(leader, request, 4, 11, 12);
    const small = await snapshots.snapshotNow();
    expect(small!.bytes).toBeLessThan(large!.bytes);
    expect((await store.list()).map((s) => s.lsn)).toEqual([small!.lsn, large!.lsn]);
    expect(wal.firstLsn).toBeGreaterThan(1); // the log before the larger one is compacted away: it is the only fallback
    await wal.close();
    const bytes = storage.snapshot(small!.name);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 4;
    storage.put(small!.name, bytes);
    ({ wal } = await Wal.open(storage, { shard: 0, segmentBytes: 4096 }));
    const opened = await restoreFromSnapshot({ wal, store, state: new ShardState() });
    expect(opened).toMatchObject({ snapshotLsn: large!.lsn, issues: [{ code: 'Corrupt', file: small!.name }] });
    await wal.close();
  });

  it('once a state that shrank has two snapshots of its new size, the larger one is gone and the bound holds again', async () => {
    const { store, leader, snapshots } = await snapshottingLeader(4096, 'l');
    await writeRounds(leader, request, 4, 1, 10);
    const large = await snapshots.snapshotNow();
    leader.state.crdt = new CrdtSignalState();
    await writeRounds(leader, request, 4, 11, 12);
    const small = await snapshots.snapshotNow();
    await writeRounds(leader, request, 4, 13, 14);
    const next = await snapshots.snapshotNow();
    const kept = await store.list();
    expect(kept.map((s) => s.lsn)).toEqual([next!.lsn, small!.lsn]);
    expect(kept.every((s) => s.bytes < large!.bytes)).toBe(true);
    expect(kept.reduce((sum, s) => sum + s.bytes, 0)).toBeLessThanOrEqual(2 * next!.bytes + 64);
  });

  it('a snapshot still being written once the log since the newest reaches overdueLogBytes holds appends until its file is in place', async () => {
    const storage = new MemoryStorage();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, chunkBytes: 256, yieldToEvents: () => gate });
    const { wal } = await Wal.open(storage, { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 4096, overdueLogBytes: 8192 } });
    wal.onCommit(() => snapshots.afterCommit());
    const macrotask = () => new Promise<false>((resolve) => setTimeout(() => resolve(false), 0));
    let held: Promise<void> | undefined;
    let bytesWhenHeld = 0;
    for (let seq = 1; seq <= 100 && !held; seq++) {
      const round = writeRounds(leader, request, 3, seq, seq);
      // On memory storage a round that is not held is acknowledged within a task.
      if (!(await Promise.race([round.then(() => true), macrotask()]))) {
        held = round;
        bytesWhenHeld = wal.bytesAppended;
      }
    }
    expect(held).toBeDefined();
    // Acknowledged while the snapshot was written, up to the overdue mark (and the one batch that crossed it), not past it.
    expect(bytesWhenHeld).toBeGreaterThanOrEqual(8192);
    expect(bytesWhenHeld).toBeLessThan(8192 + 1024);
    expect((await storage.list()).filter((name) => name.endsWith('.snap'))).toEqual([]);
    release();
    await held;
    const [written] = await store.list();
    expect(written!.lsn).toBeGreaterThan(0);
    await snapshots.close();
    await wal.close();
  });

  it('a snapshot that storage refuses is reported in lastError, and writes go on; the next one is taken once there is room', async () => {
    const memory = new MemoryStorage();
    let refuse = true;
    const storage: WalStorage = {
      description: 'refusing snapshots',
      list: () => memory.list(),
      open: async (name, options) => {
        if (refuse && name.endsWith('.snap.tmp')) throw new TidalError('StorageFull', `cannot create ${name}: storage is full (injected)`);
        return memory.open(name, options);
      },
      rename: (from, to) => memory.rename(from, to),
      remove: (name) => memory.remove(name),
    };
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, yieldToEvents: noYield });
    const { wal } = await Wal.open(storage, { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 2048, overdueLogBytes: 4096 } });
    wal.onCommit(() => snapshots.afterCommit());
    // Far past the overdue mark, every write acknowledged: a snapshot that failed holds nothing back.
    await writeRounds(leader, request, 3, 1, 40);
    expect(leader.state.appliedLsn).toBe(120);
    await snapshots.settled();
    expect(snapshots.lastError).toMatchObject({ code: 'StorageFull' });
    expect(await store.list()).toEqual([]);
    refuse = false;
    await writeRounds(leader, request, 3, 41, 50);
    await snapshots.settled();
    expect(snapshots.lastError).toBeUndefined();
    expect((await store.list())[0]!.lsn).toBeGreaterThan(120);
    expect((await memory.list()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    await snapshots.close();
    await wal.close();
  });

  it('the policy snapshots after enough log, and writes are acknowledged while the file is being written', async () => {
    const storage = new MemoryStorage();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, chunkBytes: 256, yieldToEvents: () => gate });
    const { wal } = await Wal.open(storage, { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    // Never overdue here (see the back-pressure test).
    const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 4096, overdueLogBytes: 1 << 30 } });
    wal.onCommit(() => snapshots.afterCommit());
    await writeRounds(leader, request, 3, 1, 30);
    // A snapshot is under way (held at its first chunk); writes go on being acknowledged meanwhile.
    await writeRounds(leader, request, 3, 31, 35);
    expect(leader.state.appliedLsn).toBe(105);
    expect((await storage.list()).filter((name) => name.endsWith('.snap'))).toEqual([]);
    release();
    await snapshots.close();
    const [written] = await store.list();
    expect(written!.lsn).toBeGreaterThan(0);
    expect(written!.lsn).toBeLessThan(105);
    await wal.close();
  });

  it('by default the next snapshot is due after as many log bytes as the newest snapshot holds, and at least 512 KiB', async () => {
    const storage = new MemoryStorage();
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, yieldToEvents: noYield });
    const { wal } = await Wal.open(storage, { shard: 0, durable: false });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const snapshots = new ShardSnapshots({ wal, store, state: leader.state });
    wal.onCommit(() => snapshots.afterCommit());
    expect(snapshots.logBytesDue()).toBe(512 * 1024); // the documented default (docs/FORMAT.md §9.4)
    expect(snapshots.logBytesDue()).toBe(MIN_SNAPSHOT_LOG_BYTES);
    // Small state, much log: a snapshot after each 512 KiB of log, not before.
    let seq = 0;
    while (wal.bytesAppended < MIN_SNAPSHOT_LOG_BYTES * 0.9) await writeRounds(leader, request, 40, ++seq, seq);
    await snapshots.close();
    expect(await store.list()).toEqual([]);
    const again = new ShardSnapshots({ wal, store, state: leader.state });
    wal.onCommit(() => again.afterCommit());
    while (wal.bytesAppended < MIN_SNAPSHOT_LOG_BYTES * 3.2) await writeRounds(leader, request, 40, ++seq, seq);
    await again.close();
    const kept = await store.list();
    expect(kept).toHaveLength(2);
    expect(again.logBytesDue()).toBe(MIN_SNAPSHOT_LOG_BYTES); // the state is far under 512 KiB
    // A state larger than 512 KiB sets the pace itself.
    const big = new ShardSnapshots({ wal, store, state: leader.state, latest: { name: 'x', lsn: kept[0]!.lsn, bytes: 3 << 20 } });
    expect(big.logBytesDue()).toBe(3 << 20);
    await big.close();
    await wal.close();
  });
});
