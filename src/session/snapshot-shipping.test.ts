/**
 * Snapshot shipping end to end over an in-process transport (the browser
 * transports are covered in the e2e visibility specs): a leader that
 * snapshots and compacts its log, and followers that the log cannot serve
 * (new, or behind the log's first LSN) are brought up to date by the
 * snapshot and the log after it, byte for byte; bad chunks install nothing.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { FollowerDb } from '../replication/follower-db.js';
import { encodeSnapshotChunks, SNAPSHOT_CHUNK_HEADER_BYTES } from '../replication/snapshot-chunks.js';
import { WalShipper } from '../replication/wal-shipper.js';
import { InProcessNetwork, withFlippedByte, withTruncatedBytes } from '../transport/index.js';
import type { WireMessage } from '../transport/wire.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { databaseIdOf, SnapshotStore } from '../wal/snapshot-store.js';
import { Wal } from '../wal/wal.js';
import { ShardLeader } from './shard-leader.js';
import { encodeShardSnapshot, restoreShardSnapshot } from './shard-snapshot.js';
import { ShardSnapshots } from './shard-snapshots.js';
import { ShardState } from './shard-state.js';
import { mixedWrites, writeRounds } from './testing/mixed-writes.js';

const b3 = await loadBlake3();
const databaseId = databaseIdOf(b3, 'db');
const SHARD = 4;
const LEADER = { shard: SHARD, replica: 'leader' };
const request = mixedWrites({ entities: 40, startedAt: Date.now() });
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const noYield = async () => undefined;

/** A leader with small segments, its snapshots, and a shipper that sends them to followers the log cannot serve. */
async function startLeader(net: InProcessNetwork, options: { maxPayloadBytes?: number } = {}) {
  const storage = new MemoryStorage();
  const { wal } = await Wal.open(storage, { shard: SHARD, segmentBytes: 4096 });
  const store = new SnapshotStore(storage, b3, { shard: SHARD, databaseId, yieldToEvents: noYield });
  const leader = await ShardLeader.open({ wal, replica: 'leader-1' });
  const snapshots = new ShardSnapshots({ wal, store, state: leader.state, policy: { logBytes: 1 << 30 } });
  const transport = net.connect(LEADER);
  const shipper = new WalShipper({
    wal,
    transport,
    admit: () => true,
    resendTimeoutMs: 80,
    heartbeatMs: 20,
    snapshots: { newestLsn: () => snapshots.newest?.lsn ?? 0, read: () => store.readNewest() },
    ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
  });
  shipper.start();
  let seq = 0;
  const writes = async (rounds: number) => {
    await writeRounds(leader, request, 4, seq + 1, seq + rounds);
    seq += rounds;
  };
  /** A snapshot now, and the log below it compacted away (what the shard host does). */
  const snapshotAndCompact = async () => {
    const taken = (await snapshots.snapshotNow())!;
    await wal.compact(taken.lsn + 1);
    return taken;
  };
  onTestFinished(async () => {
    shipper.stop();
    transport.close();
    await snapshots.close();
    await wal.close();
  });
  return { storage, wal, leader, shipper, snapshots, writes, snapshotAndCompact };
}

async function startFollower(net: InProcessNetwork, replica: string, storage = new MemoryStorage()) {
  let state = new ShardState();
  const follower = await FollowerDb.open({
    storage,
    shard: SHARD,
    transport: net.connect({ shard: SHARD, replica }),
    leader: LEADER,
    stateMachine: state,
    stallTimeoutMs: 80,
    requestIntervalMs: 10,
    snapshots: {
      databaseId,
      restore: (snapshot) => {
        state = new ShardState();
        restoreShardSnapshot(state, snapshot.body, snapshot.lsn);
        return state;
      },
    },
  });
  onTestFinished(() => follower.close());
  return { follower, storage, state: () => follower.stateMachine as ShardState };
}

describe('snapshot shipping', () => {
  it('a new follower of a compacted log is sent the snapshot, then the log after it, and ends equal to the leader byte for byte', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { maxPayloadBytes: 1024 }); // many chunks
    await leader.writes(40);
    const taken = await leader.snapshotAndCompact();
    expect(leader.wal.firstLsn).toBeGreaterThan(1);
    await leader.writes(10);

    const { follower, state } = await startFollower(net, 'f1');
    await follower.whenApplied(leader.wal.lastLsn);
    expect(follower.counters.snapshotsInstalled).toBe(1);
    expect(follower.counters.snapshotChunksRejected).toBe(0);
    expect(hex(encodeShardSnapshot(state()))).toBe(hex(encodeShardSnapshot(leader.leader.state)));
    // The follower's own log starts right after the snapshot and holds what the leader wrote since.
    expect(follower.appliedLsn).toBe(leader.wal.lastLsn);
    await expect.poll(() => leader.shipper.stats().followers[0]?.ackedLsn).toBe(leader.wal.lastLsn);
    expect(leader.shipper.stats().followers[0]?.snapshotsSent).toBe(1);
    expect(taken.lsn).toBeLessThan(leader.wal.lastLsn);

    // Live writes go on being applied after the snapshot.
    await leader.writes(5);
    await follower.whenApplied(leader.wal.lastLsn);
    expect(hex(encodeShardSnapshot(state()))).toBe(hex(encodeShardSnapshot(leader.leader.state)));
  });

  it('a follower that fell behind the log the leader kept gets the snapshot in place of its old state, and reopens from it', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net);
    await leader.writes(5);
    const storage = new MemoryStorage();
    const first = await startFollower(net, 'f2', storage);
    await first.follower.whenApplied(leader.wal.lastLsn);
    await first.follower.close();

    // While it is away the leader writes and snapshots; what it had acknowledged holds compaction back...
    const held = first.follower.appliedLsn + 1;
    await leader.writes(40);
    await leader.snapshotAndCompact();
    expect(leader.wal.firstLsn).toBeLessThanOrEqual(held);
    // ...until the leader stops waiting for it (it answers no resend), and then the log is compacted past it.
    await expect.poll(() => leader.shipper.stats().followers.length, { timeout: 5000 }).toBe(0);
    await leader.writes(5);
    await leader.snapshotAndCompact();
    expect(leader.wal.firstLsn).toBeGreaterThan(held);

    const again = await startFollower(net, 'f2', storage);
    await again.follower.whenApplied(leader.wal.lastLsn);
    expect(again.follower.counters.snapshotsInstalled).toBe(1);
    expect(hex(encodeShardSnapshot(again.state()))).toBe(hex(encodeShardSnapshot(leader.leader.state)));
    await again.follower.close();

    // Its copy now starts after the snapshot: it reopens from the snapshot kept beside it.
    const reopened = await startFollower(net, 'f2', storage);
    expect(reopened.follower.appliedLsn).toBe(leader.wal.lastLsn);
    expect(hex(encodeShardSnapshot(reopened.state()))).toBe(hex(encodeShardSnapshot(leader.leader.state)));
  });

  it('damaged, truncated and forged chunks are refused with a count and install nothing; the follower recovers from a good copy', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { maxPayloadBytes: 2048 });
    await leader.writes(30);
    await leader.snapshotAndCompact();
    await leader.writes(3);

    const isChunk = (m: WireMessage) =>
      m.kind === 'segment' && new Uint8Array(m.bytes, 0, 4).every((b, i) => b === [0x54, 0x44, 0x53, 0x43][i]);
    let faults = 0;
    net.intercept = (m) => {
      if (!isChunk(m) || faults >= 2) return [m];
      faults++;
      return [faults === 1 ? withFlippedByte(m as never, SNAPSHOT_CHUNK_HEADER_BYTES + 5) : withTruncatedBytes(m as never, 300)];
    };
    const { follower, state } = await startFollower(net, 'f3');
    await follower.whenApplied(leader.wal.lastLsn);
    expect(follower.counters.snapshotChunksRejected).toBeGreaterThanOrEqual(2);
    expect(follower.counters.snapshotsInstalled).toBe(1);
    expect(hex(encodeShardSnapshot(state()))).toBe(hex(encodeShardSnapshot(leader.leader.state)));
  });

  it('a forged snapshot (another database, a digest that does not hold, chunks of two snapshots) installs nothing', async () => {
    const net = new InProcessNetwork();
    const forger = net.connect(LEADER); // the follower takes it for its leader
    const { follower } = await startFollower(net, 'f4');
    const to = { shard: SHARD, replica: 'f4' };
    const { wal } = await Wal.open(new MemoryStorage(), { shard: SHARD });
    const source = await ShardLeader.open({ wal, replica: 'source' });
    await source.writeBatch([request(0, 1)]);
    const body = encodeShardSnapshot(source.state);
    await wal.close();
    const id = new WalSegmentId(SHARD, 0n);
    const send = async (chunks: Uint8Array[]) => {
      for (const chunk of chunks) await forger.sendSegment(to, { id, bytes: chunk.slice().buffer, eventCount: 0 });
    };
    const fileOf = async (db: string) => {
      const storage = new MemoryStorage();
      const store = new SnapshotStore(storage, b3, { shard: SHARD, databaseId: databaseIdOf(b3, db), yieldToEvents: noYield });
      await store.write({ lsn: 1, hlcHigh: 0n, body });
      return (await store.readNewest())!.file;
    };

    // Another database's snapshot, whole and well formed.
    await send(encodeSnapshotChunks(b3, { shard: SHARD, lsn: 1, file: await fileOf('other-db') }, 256));
    // This database's, with a byte of the body changed and every chunk digest recomputed over it: the file digest fails.
    const tampered = (await fileOf('db')).slice();
    tampered[80]! ^= 1;
    await send(encodeSnapshotChunks(b3, { shard: SHARD, lsn: 1, file: tampered }, 256));
    // The first chunk of one snapshot followed by the rest of another.
    const good = encodeSnapshotChunks(b3, { shard: SHARD, lsn: 1, file: await fileOf('db') }, 256);
    const other = encodeSnapshotChunks(b3, { shard: SHARD, lsn: 1, file: await fileOf('other-db') }, 256);
    await send([good[0]!, ...other.slice(1)]);

    await expect.poll(() => follower.counters.snapshotChunksRejected, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    expect(follower.counters.snapshotsInstalled).toBe(0);
    expect(follower.appliedLsn).toBe(0);
    expect(follower.stateMachine!).toBeInstanceOf(ShardState);
    expect((follower.stateMachine as ShardState).appliedLsn).toBe(0);
    forger.close();
    await follower.close();
  });
});
