import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { databaseIdOf, SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal } from '../wal/wal.js';
import { ShardLeader } from './shard-leader.js';
import { encodeShardSnapshot } from './shard-snapshot.js';
import { CLOSE_SNAPSHOT_BYTES_PER_EVENT, CLOSE_SNAPSHOT_MIN_EVENTS, ShardSnapshots, type SnapshotPolicy } from './shard-snapshots.js';
import { restoreFromSnapshot } from './snapshot-restore.js';
import { ShardState } from './shard-state.js';
import { mixedWrites, writeRounds } from './testing/mixed-writes.js';

// The shutdown snapshot of a clean close (ShardSnapshots.shutdownSnapshot), on memory storage: the
// next open replays nothing, and a snapshot that fails or hangs neither holds the close nor loses a write.

const b3 = await loadBlake3();
const databaseId = databaseIdOf(b3, 'db');
const noYield = async () => undefined;
const request = mixedWrites({ entities: 50, startedAt: Date.now() });
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const SESSIONS = 5;

/** Memory storage whose snapshot files can be refused (`StorageFull`) or made to hang, when asked. */
function faultyStorage() {
  const memory = new MemoryStorage();
  const faults = { snapshots: 'ok' as 'ok' | 'refuse' | 'hang' };
  const storage: WalStorage = {
    description: 'faulty snapshots',
    list: () => memory.list(),
    open: async (name, options) => {
      if (name.endsWith('.snap.tmp') && faults.snapshots === 'refuse')
        throw new TidalError('StorageFull', `cannot create ${name} (injected)`);
      if (name.endsWith('.snap.tmp') && faults.snapshots === 'hang') return new Promise<never>(() => undefined);
      return memory.open(name, options);
    },
    rename: (from, to) => memory.rename(from, to),
    remove: (name) => memory.remove(name),
  };
  return { memory, storage, faults };
}

/** A leader on `storage` whose policy never snapshots by itself (only `snapshotNow` and the close do). */
async function openLeader(storage: WalStorage, policy: SnapshotPolicy = {}) {
  const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, yieldToEvents: noYield });
  const { wal } = await Wal.open(storage, { shard: 0 });
  const leader = await ShardLeader.open({ wal, replica: 'leader-1' });
  const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 1 << 30, ...policy } });
  return { store, wal, leader, snapshots };
}

/** Reopens the shard on `storage` from its newest snapshot; the state, what the open did, and a full replay to compare. */
async function reopen(storage: WalStorage) {
  const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, yieldToEvents: noYield });
  const { wal } = await Wal.open(storage, { shard: 0 });
  const state = new ShardState();
  const opened = await restoreFromSnapshot({ wal, store, state });
  const full = new ShardState();
  for await (const { lsn, event } of wal.read(1)) full.apply(lsn, event);
  const lastLsn = wal.lastLsn;
  await wal.close();
  return { state, opened, full, lastLsn };
}

describe('shutdown snapshot', () => {
  it('a clean close snapshots at the last LSN once the writes admitted are settled: the reopen replays none and equals a full replay', async () => {
    const { storage } = faultyStorage();
    const { wal, leader, snapshots } = await openLeader(storage);
    await writeRounds(leader, request, SESSIONS, 1, 100);
    expect((await snapshots.snapshotNow())?.lsn).toBe(500);
    await writeRounds(leader, request, SESSIONS, 101, 320);
    // A batch still on its way into the log when the close begins: the close waits for it, the snapshot holds it.
    const inFlight = leader.writeBatch(Array.from({ length: SESSIONS }, (_, s) => request(s, 321)));
    await leader.close();
    expect((await inFlight).every((outcome) => outcome.ok)).toBe(true);
    const [late] = await leader.writeBatch([request(0, 322)]);
    expect(late).toMatchObject({ ok: false, error: { code: 'Closed' } });
    const shutdown = await snapshots.shutdownSnapshot();
    expect(shutdown).toMatchObject({ outcome: 'written', snapshotLsn: 1605, tailEvents: 0 });
    await wal.close();

    const { state, opened, full, lastLsn } = await reopen(storage);
    expect(lastLsn).toBe(1605);
    expect(opened).toMatchObject({ snapshotLsn: 1605, replayedEvents: 0, issues: [] });
    expect(hex(encodeShardSnapshot(state))).toBe(hex(encodeShardSnapshot(full)));
    expect(state.crdt.equals(leader.state.crdt)).toBe(true);
  });

  it(`takes none for a tail shorter than ${CLOSE_SNAPSHOT_MIN_EVENTS} events, nor when the caller refuses it (the lead in doubt)`, async () => {
    const { storage } = faultyStorage();
    const short = await openLeader(storage);
    await writeRounds(short.leader, request, SESSIONS, 1, 200); // 1000 events
    await short.leader.close();
    expect(await short.snapshots.shutdownSnapshot()).toMatchObject({ outcome: 'skipped', snapshotLsn: 0, tailEvents: 1000 });
    await short.wal.close();
    expect((await reopen(storage)).opened).toMatchObject({ snapshotLsn: 0, replayedEvents: 1000 });

    const doubted = await openLeader(storage);
    await writeRounds(doubted.leader, request, SESSIONS, 201, 400);
    await doubted.leader.close();
    const shutdown = await doubted.snapshots.shutdownSnapshot('the lead is in doubt');
    expect(shutdown).toMatchObject({ outcome: 'skipped', snapshotLsn: 0, tailEvents: 2000, detail: 'the lead is in doubt' });
    await doubted.wal.close();
    expect((await reopen(storage)).opened).toMatchObject({ snapshotLsn: 0, replayedEvents: 2000 });
  });

  it('a larger state asks for a longer tail: one event per CLOSE_SNAPSHOT_BYTES_PER_EVENT bytes of the newest snapshot', async () => {
    const { storage } = faultyStorage();
    const wide = mixedWrites({ entities: 2000, startedAt: Date.now() });
    const { wal, leader, snapshots } = await openLeader(storage, { closeMinEvents: 1 });
    await writeRounds(leader, wide, 10, 1, 400);
    const newest = (await snapshots.snapshotNow())!;
    const needed = Math.ceil(newest.bytes / CLOSE_SNAPSHOT_BYTES_PER_EVENT);
    expect(needed).toBeGreaterThan(20); // the rule, not closeMinEvents, decides here
    const tail = 10 * Math.floor((needed - 1) / 10); // just short of it
    await writeRounds(leader, wide, 10, 401, 400 + tail / 10);
    const short = await snapshots.shutdownSnapshot();
    expect(short).toMatchObject({ outcome: 'skipped', snapshotLsn: newest.lsn, tailEvents: tail });
    await wal.close();

    const again = await openLeader(storage, { closeMinEvents: 1 });
    const opened = await restoreFromSnapshot({ wal: again.wal, store: again.store, state: new ShardState() });
    const reopened = await ShardLeader.open({ wal: again.wal, replica: 'leader-2' });
    const snapshots2 = new ShardSnapshots({
      wal: again.wal,
      store: again.store,
      state: reopened.state,
      policy: { logBytes: 1 << 30, closeMinEvents: 1 },
      latest: { name: opened.snapshotFile, lsn: opened.snapshotLsn, bytes: opened.snapshotBytes },
    });
    await writeRounds(reopened, wide, 10, 401 + tail / 10, 400 + tail / 10 + 2); // 20 more: past it
    await reopened.close();
    expect(await snapshots2.shutdownSnapshot()).toMatchObject({ outcome: 'written', snapshotLsn: again.wal.lastLsn, tailEvents: 0 });
    await again.wal.close();
  });

  it('a shutdown snapshot that storage refuses still closes: the reopen rebuilds from the older snapshot and the log, nothing lost', async () => {
    const { storage, memory, faults } = faultyStorage();
    const { wal, leader, snapshots } = await openLeader(storage);
    await writeRounds(leader, request, SESSIONS, 1, 100);
    await snapshots.snapshotNow();
    await writeRounds(leader, request, SESSIONS, 101, 400);
    faults.snapshots = 'refuse';
    await leader.close();
    const shutdown = await snapshots.shutdownSnapshot();
    expect(shutdown).toMatchObject({ outcome: 'failed', snapshotLsn: 500, tailEvents: 1500 });
    expect(shutdown.detail).toContain('StorageFull');
    await wal.close();
    expect((await memory.list()).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const { state, opened, full } = await reopen(storage);
    expect(opened).toMatchObject({ snapshotLsn: 500, replayedEvents: 1500, issues: [] });
    expect(hex(encodeShardSnapshot(state))).toBe(hex(encodeShardSnapshot(full)));
    expect(state.crdt.equals(leader.state.crdt)).toBe(true);
  });

  it('a shutdown snapshot that hangs does not hold the close past closeTimeoutMs: the reopen is whole from the older snapshot', async () => {
    const { storage, faults } = faultyStorage();
    const { wal, leader, snapshots } = await openLeader(storage, { closeTimeoutMs: 50 });
    await writeRounds(leader, request, SESSIONS, 1, 100);
    await snapshots.snapshotNow();
    await writeRounds(leader, request, SESSIONS, 101, 400);
    faults.snapshots = 'hang';
    await leader.close();
    expect(await snapshots.shutdownSnapshot()).toMatchObject({ outcome: 'timedOut', snapshotLsn: 500, tailEvents: 1500 });
    await wal.close();

    const { state, opened, full } = await reopen(storage);
    expect(opened).toMatchObject({ snapshotLsn: 500, replayedEvents: 1500 });
    expect(hex(encodeShardSnapshot(state))).toBe(hex(encodeShardSnapshot(full)));
  });
});
