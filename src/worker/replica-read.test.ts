import { describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { LsnWaiters } from '../replication/lsn-waiters.js';
import { whenReadable, type ReadReplica } from './replica-read.js';

/** A replica of shard 0 at `applied`; once `close()`d it refuses its waiters and later waits with `Closed`, as a `FollowerDb` does. */
function replica(applied: number) {
  const waiters = new LsnWaiters(() => 'follower of shard 0', systemClock);
  let closed = false;
  const r = {
    shard: 0,
    appliedLsn: applied,
    whenApplied: (lsn: number, timeoutMs: number) =>
      closed && lsn > r.appliedLsn
        ? Promise.reject(new TidalError('Closed', 'follower of shard 0 is closed'))
        : waiters.wait(lsn, r.appliedLsn, timeoutMs),
    apply(lsn: number) {
      r.appliedLsn = lsn;
      waiters.reached(lsn);
    },
    close() {
      closed = true;
      waiters.closeAll('closed');
    },
  };
  return r satisfies ReadReplica;
}

describe('whenReadable', () => {
  it('moves a read waiting on a replica that is closed to the replica that replaces it', async () => {
    const old = replica(3);
    const next = replica(3);
    let current: ReadReplica | undefined = old;
    const read = whenReadable({
      current: () => current,
      refusal: () => undefined,
      clock: systemClock,
      after: { shard: 0, lsn: 7 },
      timeoutMs: 5000,
    });
    // The worker takes the lead: the follower goes (its waiters refused), the role is between replicas for a moment.
    current = undefined;
    old.close();
    await new Promise((resolve) => setTimeout(resolve, 30));
    current = next;
    next.apply(7);
    expect(await read).toBe(next);
  });

  it('keeps waiting on the new replica until it applied the token', async () => {
    const old = replica(0);
    const next = replica(2);
    let current: ReadReplica = old;
    let settled = false;
    const read = whenReadable({
      current: () => current,
      refusal: () => undefined,
      clock: systemClock,
      after: { shard: 0, lsn: 5 },
      timeoutMs: 5000,
    });
    void read.then(() => (settled = true));
    current = next;
    old.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false); // the new replica is at 2, the read needs 5
    next.apply(5);
    expect(await read).toBe(next);
  });

  it('does not retry a timeout or a bad token: only a replica that went away is left behind', async () => {
    const stuck = replica(1);
    await expect(
      whenReadable({ current: () => stuck, refusal: () => undefined, clock: systemClock, after: { shard: 0, lsn: 9 }, timeoutMs: 40 }),
    ).rejects.toMatchObject({ code: 'Timeout' });
    await expect(
      whenReadable({ current: () => stuck, refusal: () => undefined, clock: systemClock, after: { shard: 1, lsn: 1 }, timeoutMs: 1000 }),
    ).rejects.toMatchObject({ code: 'WrongShard' });
  });

  it('fails with Timeout, saying a replica was replaced, when none takes over within the bound', async () => {
    const old = replica(0);
    let current: ReadReplica | undefined = old;
    const read = whenReadable({
      current: () => current,
      refusal: () => undefined,
      clock: systemClock,
      after: { shard: 0, lsn: 4 },
      timeoutMs: 100,
    });
    current = undefined;
    old.close();
    await expect(read).rejects.toMatchObject({ code: 'Timeout', message: expect.stringContaining('1 replica(s) replaced') });
  });

  it('stops with the worker refusal when the worker closes meanwhile', async () => {
    const old = replica(0);
    const worker: { refusal?: TidalError } = {};
    const read = whenReadable({
      current: () => old,
      refusal: () => worker.refusal,
      clock: systemClock,
      after: { shard: 0, lsn: 4 },
      timeoutMs: 5000,
    });
    worker.refusal = new TidalError('VersionSkew', 'a newer tidal leads');
    old.close();
    await expect(read).rejects.toMatchObject({ code: 'VersionSkew' });
  });

  it('answers at once from a replica that has what the read needs', async () => {
    const r = replica(4);
    expect(await whenReadable({ current: () => r, refusal: () => undefined, clock: systemClock, after: undefined, timeoutMs: 10 })).toBe(r);
  });
});
