import { spawnReplica } from './testing/spawn-replica.js';
import { afterAll, describe, expect, it } from 'vitest';
import { equalBytes } from '../common/blake3.js';
import type { FollowerStats } from './testing/replica.worker.js';

// A follower that comes back under the same address with an empty copy of
// the log (its storage was cleared, or another tab took its name) asks for
// LSN 1. The shipper must take that request as what the follower holds:
// were it to keep the old acknowledged LSN, the first ack of the new
// follower would move the cursor past everything the follower still lacks,
// and it would stall once per in-flight window until its stall timer asked
// again.

const SHARD = 6;
const LEADER = { shard: SHARD, replica: 'leader' };
const FOLLOWER = { shard: SHARD, replica: 'follower' };
const ROOT = 'tidal-test';
const RUN = `rejoin-${crypto.randomUUID()}`;

afterAll(async () => {
  const root = await navigator.storage.getDirectory();
  await (await root.getDirectoryHandle(ROOT, { create: true })).removeEntry(RUN, { recursive: true }).catch(() => undefined);
});

const spawn = () => spawnReplica();

describe('WalShipper and a follower that rejoins with an empty log', () => {
  it('catches it up from LSN 1 without waiting for its stall timer', async () => {
    const channel = `tidal-test-${RUN}`;
    const leader = spawn();
    await leader.startLeader({
      folder: [ROOT, RUN, 'leader'],
      shard: SHARD,
      link: { kind: 'broadcast', channel, local: LEADER, remote: FOLLOWER },
      // The catch-up takes several windows of a few payloads each.
      maxInFlightBytes: 8 * 1024,
      maxPayloadBytes: 2 * 1024,
    });
    const startFollower = async (name: string) => {
      const follower = spawn();
      await follower.startFollower({
        folder: [ROOT, RUN, name],
        shard: SHARD,
        link: { kind: 'broadcast', channel, local: FOLLOWER, remote: LEADER },
        stallTimeoutMs: 1000, // long enough that only a stuck catch-up makes the follower ask again
      });
      return follower;
    };
    const first = await startFollower('first');
    await leader.append(1000, 10);
    await first.whenApplied(1000);
    await first.stop(); // its copy is deleted with it

    const second = await startFollower('second'); // the same address, an empty log
    await second.whenApplied(1000, 30_000);
    const [expected, actual] = await Promise.all([leader.state(), second.state()]);
    expect(equalBytes(actual.digest, expected.digest)).toBe(true);
    const stats = (await second.stats()) as FollowerStats;
    expect(stats.counters.eventsApplied).toBe(1000);
    // Its hello was the only request it needed: the link lost nothing.
    expect(stats.counters.requests).toBe(1);
  });
});
