import * as Comlink from 'comlink';
import { spawnReplica } from './testing/spawn-replica.js';
import { afterAll, describe, expect, it } from 'vitest';
import { equalBytes } from '../common/blake3.js';
import type { SegmentFault } from '../transport/faulty-transport.js';
import type { FollowerConfig, FollowerStats, LeaderConfig, LeaderStats, ReplicaWorkerApi } from './testing/replica.worker.js';

// A leader worker and a follower worker, each on its own OPFS folder, wired
// by a MessageChannel (comlink only for control): the WalShipper → FollowerDb
// path in real Chromium, with real transfers, real OPFS and faults injected
// in flight by the leader's FaultyTransport.

const SHARD = 5;
const LEADER = { shard: SHARD, replica: 'leader' };
const FOLLOWER = { shard: SHARD, replica: 'follower' };
const ROOT = 'tidal-test';
const RUN = `replication-${crypto.randomUUID()}`;
/** Short timeouts so that a lost payload is noticed quickly. */
const LEADER_FAST = { resendTimeoutMs: 250, heartbeatMs: 50 };
const FOLLOWER_FAST = { stallTimeoutMs: 250, requestIntervalMs: 20 };

type Replica = Comlink.Remote<ReplicaWorkerApi>;

afterAll(async () => {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(ROOT, { create: true });
  await dir.removeEntry(RUN, { recursive: true }).catch(() => undefined);
});

const spawn = () => spawnReplica();

interface PairOptions {
  leader?: Partial<Pick<LeaderConfig, 'segmentBytes' | 'cacheBytes' | 'followLater' | 'faultSeed'>>;
  follower?: Partial<Pick<FollowerConfig, 'segmentBytes'>>;
  /** Start only the leader; `startFollower()` starts the follower. */
  deferFollower?: boolean;
}

/** A leader and a follower worker joined by a fresh MessageChannel, each on a fresh OPFS folder. */
async function pair(
  name: string,
  options: PairOptions = {},
): Promise<{ leader: Replica; follower: Replica; startFollower(): Promise<void> }> {
  const { port1, port2 } = new MessageChannel();
  const leader = spawn();
  const follower = spawn();
  await leader.startLeader(
    Comlink.transfer(
      {
        folder: [ROOT, RUN, name, 'leader'],
        shard: SHARD,
        link: { kind: 'port' as const, port: port1, local: LEADER, remote: FOLLOWER },
        ...LEADER_FAST,
        ...options.leader,
      },
      [port1],
    ),
  );
  const startFollower = async () => {
    await follower.startFollower(
      Comlink.transfer(
        {
          folder: [ROOT, RUN, name, 'follower'],
          shard: SHARD,
          link: { kind: 'port' as const, port: port2, local: FOLLOWER, remote: LEADER },
          ...FOLLOWER_FAST,
          ...options.follower,
        },
        [port2],
      ),
    );
  };
  if (!options.deferFollower) await startFollower();
  return { leader, follower, startFollower };
}

const leaderStats = async (replica: Replica) => (await replica.stats()) as LeaderStats;
const followerStats = async (replica: Replica) => (await replica.stats()) as FollowerStats;

/** The follower holds exactly the leader's events (same LSNs, same events, same encoding) and applied each once, in order. */
async function expectSameState(leader: Replica, follower: Replica, lastLsn: number): Promise<void> {
  const [expected, actual] = await Promise.all([leader.state(), follower.state()]);
  expect(expected).toMatchObject({ entries: lastLsn, lastLsn, dense: true });
  expect(actual).toMatchObject({ entries: lastLsn, lastLsn, dense: true, encodedBytes: expected.encodedBytes });
  expect(equalBytes(actual.digest, expected.digest)).toBe(true);
  const stats = await followerStats(follower);
  expect(stats.violations).toEqual([]);
  expect(stats.failed).toBeUndefined();
}

/** Every buffer the leader's shipper handed to its transport was detached once sent. */
async function expectAllDetached(leader: Replica): Promise<LeaderStats> {
  const stats = await leaderStats(leader);
  expect(stats.detach.notDetached).toEqual([]);
  expect(stats.detach.rejected).toBe(0);
  expect(stats.detach.sent).toBeGreaterThan(0);
  expect(stats.detach.detached).toBe(stats.detach.sent);
  expect(stats.detach.sent).toBe(stats.shipper.followers[0]!.payloadsSent);
  return stats;
}

describe('WalShipper → FollowerDb between two workers over a MessageChannel, both on OPFS', () => {
  it('ships 100k events; the follower equals the leader, event for event and batch for batch', async () => {
    const { leader, follower } = await pair('100k');
    const range = await leader.append(100_000, 100);
    expect(range).toEqual({ first: 1, last: 100_000 });
    await follower.whenApplied(100_000, 60_000);
    await expectSameState(leader, follower, 100_000);
    // The encodings themselves, byte for byte, not only their digests.
    const [expected, actual] = await Promise.all([leader.encodedState(), follower.encodedState()]);
    expect(actual.length).toBe(expected.length);
    expect(equalBytes(actual, expected)).toBe(true);
    const stats = await followerStats(follower);
    expect(stats.counters).toMatchObject({ eventsApplied: 100_000, payloadsRejected: 0, gaps: 0 });
    expect(stats.counters.bytesVerified).toBeGreaterThan(0);
    await expectAllDetached(leader);
    // The follower's own log is a byte-for-byte copy of the leader's batches.
    const [leaderLog, followerLog] = await Promise.all([leader.logDigest(), follower.logDigest()]);
    expect(followerLog.batches).toBe(1000);
    expect(followerLog.bytes).toBe(leaderLog.bytes);
    expect(equalBytes(followerLog.digest, leaderLog.digest)).toBe(true);
  });

  it('the leader’s sent buffers are detached, for whole sealed segments (catch-up) and live batches alike', async () => {
    const { leader, follower, startFollower } = await pair('detach', {
      leader: { segmentBytes: 16 * 1024, cacheBytes: 4 * 1024, followLater: true },
      follower: { segmentBytes: 16 * 1024 },
      deferFollower: true,
    });
    await leader.append(3000, 25); // before the follower joins: it catches up from storage
    expect((await leaderStats(leader)).sealedSegments).toBeGreaterThan(5);
    await startFollower();
    await leader.addFollower();
    await follower.whenApplied(3000);
    await leader.append(500, 5); // live, as they commit
    await follower.whenApplied(3500);
    await expectSameState(leader, follower, 3500);
    const stats = await expectAllDetached(leader);
    expect(stats.detach.wholeSegments).toBeGreaterThan(5);
    expect(stats.detach.sent).toBeGreaterThan(stats.detach.wholeSegments + 50);
  });
});

/** What the follower's counters must show for each fault. */
const FAULT_CASES: readonly { fault: SegmentFault; seen: 'payloadsRejected' | 'gaps' | 'duplicates' }[] = [
  { fault: 'flip', seen: 'payloadsRejected' },
  { fault: 'drop', seen: 'gaps' },
  { fault: 'duplicate', seen: 'duplicates' },
  { fault: 'reorder', seen: 'gaps' },
  { fault: 'truncate', seen: 'payloadsRejected' },
];

describe('faults injected in flight are detected and healed, with nothing wrong applied', () => {
  for (const { fault, seen } of FAULT_CASES) {
    it(`${fault} of a live payload: counted as ${seen}, healed`, async () => {
      const { leader, follower } = await pair(`live-${fault}`, { leader: { faultSeed: fault.length } });
      await leader.append(100, 10);
      await follower.whenApplied(100);
      const before = (await followerStats(follower)).counters;
      await leader.injectNext(fault);
      await leader.append(200, 10); // 20 more batches, shipped one by one as they commit; the first carries the fault
      await follower.whenApplied(300);
      const after = await followerStats(follower);
      expect(after.counters[seen]).toBeGreaterThan(before[seen]);
      if (fault !== 'flip' && fault !== 'truncate') expect(after.counters.payloadsRejected).toBe(0); // only damage is rejected
      const stats = await leaderStats(leader);
      expect(stats.faults[fault]).toBe(1);
      expect(stats.pendingFaults).toEqual([]);
      await expectSameState(leader, follower, 300);
      await expectAllDetached(leader);
    });
  }

  for (const fault of ['flip', 'truncate'] as const) {
    it(`${fault} of a whole sealed segment (catch-up from storage): rejected, sent again, healed`, async () => {
      const { leader, follower, startFollower } = await pair(`sealed-${fault}`, {
        leader: { segmentBytes: 16 * 1024, cacheBytes: 4 * 1024, followLater: true, faultSeed: 7 },
        follower: { segmentBytes: 16 * 1024 },
        deferFollower: true,
      });
      await leader.append(1000, 20);
      await leader.injectNext(fault);
      await startFollower();
      await leader.addFollower(); // the first payload is segment 0, whole, and it carries the fault
      await follower.whenApplied(1000);
      const stats = await followerStats(follower);
      expect(stats.counters.payloadsRejected).toBeGreaterThanOrEqual(1);
      expect((await leaderStats(leader)).faults[fault]).toBe(1);
      expect((await leaderStats(leader)).detach.wholeSegments).toBeGreaterThan(1);
      await expectSameState(leader, follower, 1000);
    });
  }

  it('all five faults in a row, then more writes: healed, exactly the leader’s log applied', async () => {
    const { leader, follower } = await pair('all', { leader: { faultSeed: 3 } });
    await leader.append(50, 5);
    await follower.whenApplied(50);
    for (const { fault } of FAULT_CASES) await leader.injectNext(fault);
    await leader.append(400, 4);
    await follower.whenApplied(450);
    const stats = await followerStats(follower);
    expect(stats.counters.payloadsRejected).toBeGreaterThanOrEqual(2);
    expect(stats.counters.gaps).toBeGreaterThanOrEqual(1);
    const { faults } = await leaderStats(leader);
    expect(faults).toMatchObject({ flip: 1, drop: 1, duplicate: 1, reorder: 1, truncate: 1 });
    await expectSameState(leader, follower, 450);
  });
});
