/**
 * A follower's time is its injected clock: its waits time out, and it asks
 * a silent leader again, when the clock says so and not before.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { InProcessNetwork } from '../transport/index.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { decodeControl } from './messages.js';
import { FollowerDb } from './follower-db.js';
import { EventLog } from './state-machine.js';
import { ManualClock, settle } from '../common/testing/manual-clock.js';

const LEADER = { shard: 1, replica: 'leader' };
const FOLLOWER = { shard: 1, replica: 'follower' };

async function open() {
  const net = new InProcessNetwork();
  const leader = net.connect(LEADER); // a leader that never answers
  const clock = new ManualClock();
  const follower = await FollowerDb.open({
    storage: new MemoryStorage(),
    shard: 1,
    transport: net.connect(FOLLOWER),
    leader: LEADER,
    stateMachine: new EventLog(),
    stallTimeoutMs: 1000,
    clock,
  });
  onTestFinished(async () => {
    await follower.close();
    leader.close();
  });
  return { follower, leader, clock };
}

async function settledState(promise: Promise<unknown>): Promise<string> {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    (error: { code?: string }) => (state = `rejected ${error.code}`),
  );
  await settle();
  return state;
}

describe('FollowerDb on an injected clock', () => {
  it('times whenApplied and whenCaughtUp out on the clock, not on the platform', async () => {
    const { follower, clock } = await open();
    const applied = follower.whenApplied(5, 2000);
    const caughtUp = follower.whenCaughtUp(3000);
    await clock.advance(1999);
    expect(await settledState(applied)).toBe('pending');
    expect(await settledState(caughtUp)).toBe('pending');
    await clock.advance(1);
    expect(await settledState(applied)).toBe('rejected Timeout');
    expect(await settledState(caughtUp)).toBe('pending');
    await clock.advance(1000);
    expect(await settledState(caughtUp)).toBe('rejected Timeout');
  });

  it('introduces itself again to a leader silent for a stall timeout of its clock', async () => {
    const { follower, leader, clock } = await open();
    const reasons: string[] = [];
    void (async () => {
      for (let m; (m = await leader.recvControl()) !== null;) {
        const body = decodeControl(m.bytes);
        if (body.type === 'request') reasons.push(body.reason);
      }
    })();
    const hellos = async () => {
      await settle();
      return reasons.splice(0).filter((r) => r === 'hello').length;
    };
    expect(await hellos()).toBe(1); // on open
    await clock.advance(999);
    expect(await hellos()).toBe(0);
    await clock.advance(600); // the stall check (every 500 ms) finds 1.5 s of silence
    expect(await hellos()).toBe(1);
    expect(follower.counters.requests).toBe(2);
  });
});
