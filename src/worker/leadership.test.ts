import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../common/clock.js';
import { ManualClock } from '../common/testing/manual-clock.js';
import { mixedWrites, writeRounds } from '../session/testing/mixed-writes.js';
import { ChangeFeed } from './change-feed.js';
import { Leadership } from './leadership.js';
import type { ShardHostConfig } from './shard-host-config.js';
import type { RpcMessage } from './tab-rpc.js';

// Leadership of one shard in one worker, on memory storage (Node has BroadcastChannel; nothing else
// here needs a browser). Multi-tab behaviour runs in real tabs: e2e/frozen.spec.ts, the soak.

const config: ShardHostConfig = {
  db: `leadership-${Math.random().toString(36).slice(2)}`,
  shard: 0,
  shards: 1,
  tabId: 'tab-a',
  storage: 'memory',
  durability: 'flush',
  requestTimeoutMs: 5000,
  debug: false,
  sync: undefined,
};

const opened: Leadership[] = [];
afterEach(async () => {
  for (const leadership of opened.splice(0)) await leadership.close();
});

function leadershipOf(posted: RpcMessage[], clock: Clock = systemClock): Leadership {
  const leadership = new Leadership({
    config,
    clock,
    hostId: 'host-1',
    feed: new ChangeFeed(0, clock),
    post: (message) => posted.push(message),
  });
  opened.push(leadership);
  return leadership;
}

describe('Leadership', () => {
  it('gives up a claim when told to follow while the log is still opening (the lock was lost meanwhile): it never leads', async () => {
    const posted: RpcMessage[] = [];
    const leadership = leadershipOf(posted);
    const claim = leadership.becomeLeader(7);
    const following = leadership.becomeFollower(); // the tab's lock was taken before the log opened
    await expect(claim).rejects.toMatchObject({ code: 'Closed' });
    await following;
    expect(leadership.role.kind).toBe('follower');
    // It announces itself no more: the only leader of term 7 is the tab that holds the lock.
    const announced = posted.filter((m) => m.t === 'leader').length;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(posted.filter((m) => m.t === 'leader').length).toBe(announced);
  });

  it('refuses to lead a log holding an event of a newer format (VersionSkew), without leading it in part', async () => {
    const leadership = leadershipOf([]);
    await leadership.becomeLeader(1);
    const role = leadership.role;
    if (role.kind !== 'leader') throw new Error('not leading');
    // What a newer tidal leading the shard wrote: a write event of a version this build does not read.
    await role.wal.append([{ t: 'write', v: 3, session: 'x', seq: 1 }]);
    await leadership.stepDown();
    await expect(leadership.becomeLeader(2)).rejects.toMatchObject({ code: 'VersionSkew' });
    expect(leadership.role.kind).not.toBe('leader');
  });

  it('gives the tab that took its lead a whole leader timeout to be heard: stepping down, the leader counts as just heard', async () => {
    const clock = new ManualClock();
    const leadership = leadershipOf([], clock);
    await leadership.becomeLeader(1);
    await clock.advance(10_000); // leading: the last other leader was heard 10 s ago
    expect(leadership.leaderSilentMs).toBeGreaterThanOrEqual(10_000);
    await leadership.stepDown(); // its lock was taken
    // Otherwise its tab's supervisor would find the leader silent at once and take the lock straight back.
    expect(leadership.leaderSilentMs).toBe(0);
  });

  it('leads once the log opened when nothing intervened', async () => {
    const leadership = leadershipOf([]);
    await expect(leadership.becomeLeader(3)).resolves.toEqual({ lastLsn: 0 });
    expect(leadership.role.kind).toBe('leader');
  });

  it('a clean close takes the shutdown snapshot before the log closes (leading again replays nothing); losing the lead takes none', async () => {
    const leadership = leadershipOf([]);
    const led = async (term: number) => {
      await leadership.becomeLeader(term);
      const role = leadership.role;
      if (role.kind !== 'leader') throw new Error('not leading');
      return role;
    };
    const request = mixedWrites({ entities: 50, startedAt: Date.now() });
    await writeRounds((await led(1)).leader, request, 5, 1, 220);
    await leadership.stepDown(); // its lock was taken: another leader may be writing, no snapshot
    const second = await led(2);
    expect(second.opened.replayedEvents).toBe(1100);
    expect(second.snapshots.newest).toBeUndefined();
    await writeRounds(second.leader, request, 5, 221, 230);
    expect(await leadership.close()).toMatchObject({ outcome: 'written', snapshotLsn: 1150, tailEvents: 0 });
    const third = await led(3);
    expect(third.opened.replayedEvents).toBe(0);
    expect(third.snapshots.newest?.lsn).toBe(third.wal.lastLsn);
    expect(third.wal.lastLsn).toBe(1150);
    expect(third.state.crdt.equals(second.state.crdt)).toBe(true);
  });

  describe('a leader that stood still (its tab frozen, its worker hung)', () => {
    /** A leader on a manual clock, with its compactions and snapshot-policy calls counted. */
    async function leaderOnManualClock() {
      const clock = new ManualClock();
      const leadership = leadershipOf([], clock);
      await leadership.becomeLeader(1);
      const role = leadership.role;
      if (role.kind !== 'leader') throw new Error('not leading');
      const calls = { compactions: 0, policy: 0 };
      role.snapshots.compactLog = async () => (calls.compactions++, []);
      role.snapshots.afterCommit = () => void calls.policy++;
      const write = () => role.wal.append([{ n: 1 }]);
      /** The tab freezes for `ms`, then wakes: every timer overdue runs at once, at the late time. */
      const freeze = async (ms: number) => {
        clock.time += ms;
        for (let i = 0; i < 2 + ms / 250; i++) await clock.fire();
      };
      return { clock, leadership, calls, write, freeze };
    }

    it('compacts and snapshots nothing on waking, and steps down on hearing the newer leader: it writes nothing after', async () => {
      const { clock, leadership, calls, write, freeze } = await leaderOnManualClock();
      await clock.advance(4000);
      await write();
      expect(calls).toEqual({ compactions: 2, policy: 1 }); // a leader in good standing does both
      await freeze(10_000);
      await write(); // a write queued before the freeze commits on waking
      expect(calls).toEqual({ compactions: 2, policy: 1 });
      // The tab that took the lock meanwhile announces its newer term.
      leadership.onAnnouncement({ v: 1, t: 'leader', shard: 0, tab: 'tab-b', since: 2, host: 'host-b' });
      await clock.advance(0);
      expect(leadership.role.kind).not.toBe('leader');
      await clock.advance(10_000);
      expect(calls).toEqual({ compactions: 2, policy: 1 });
    });

    it('takes no shutdown snapshot when it closes in doubt: it may have lost the lock unawares', async () => {
      const { leadership, write, freeze } = await leaderOnManualClock();
      await freeze(10_000);
      await write();
      expect(await leadership.close()).toMatchObject({ outcome: 'skipped', detail: expect.stringContaining('in doubt') });
    });

    it('goes on compacting once the doubt passes when no newer leader speaks (it still holds the lock)', async () => {
      const { clock, calls, write, freeze } = await leaderOnManualClock();
      await freeze(10_000);
      expect(calls.compactions).toBe(0);
      await clock.advance(4000);
      await write();
      expect(calls.compactions).toBeGreaterThan(0);
      expect(calls.policy).toBe(1);
    });
  });
});
