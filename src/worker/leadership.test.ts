import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.js';
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

function leadershipOf(posted: RpcMessage[]): Leadership {
  const leadership = new Leadership({
    config,
    clock: systemClock,
    hostId: 'host-1',
    feed: new ChangeFeed(0, systemClock),
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

  it('leads once the log opened when nothing intervened', async () => {
    const leadership = leadershipOf([]);
    await expect(leadership.becomeLeader(3)).resolves.toEqual({ lastLsn: 0 });
    expect(leadership.role.kind).toBe('leader');
  });
});
