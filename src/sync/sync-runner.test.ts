import { describe, expect, it, vi } from 'vitest';
import { MemoryRemote } from './memory-remote.js';
import { SyncRunner } from './sync-runner.js';
import { TestDevice, userKeys } from './testing/devices.js';
import { ManualClock } from '../common/testing/manual-clock.js';

/** Fires the next timer and waits for the round it starts to end (the next one scheduled). */
async function round(clock: ManualClock, runner: SyncRunner): Promise<void> {
  await clock.fire();
  await vi.waitFor(() => expect(runner.stats().nextAt).toBeGreaterThan(clock.time), { timeout: 5000, interval: 2 });
}

describe('SyncRunner', () => {
  it('syncs in the background, backs off while the store is unreachable, and resumes', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const [a, b] = [new TestDevice(remote, keys), new TestDevice(remote, keys)];
    const clock = new ManualClock();
    const runner = new SyncRunner({ sync: a.sync, clock, intervalMs: 5000, random: () => 0.5 });
    a.log.increment('k', 'click');
    runner.start();
    await round(clock, runner); // the first round, at once
    expect(runner.stats()).toMatchObject({ failures: 0, objectsUp: 2, nextAt: clock.time + 5000 });

    remote.offline = true; // the network goes away; writes go on locally
    a.log.increment('k', 'click');
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = clock.time;
      await round(clock, runner);
      delays.push(runner.stats().nextAt! - clock.time);
      expect(clock.time - before).toBeGreaterThan(0);
    }
    expect(runner.stats()).toMatchObject({ failures: 8, lastError: { code: 'Unreachable' }, pendingLsns: 1 });
    // 1 s, 2 s, 4 s ... halved by the jitter at 0.5, capped at 60 s.
    expect(delays).toEqual([750, 1500, 3000, 6000, 12_000, 24_000, 45_000, 45_000]);

    remote.offline = false;
    await round(clock, runner);
    expect(runner.stats()).toMatchObject({ failures: 0, pendingLsns: 0, nextAt: clock.time + 5000 });
    await b.sync.sync();
    expect(b.log.state.counterValue('k', 'click')).toBe(2);
    runner.stop();
    expect(runner.stats().nextAt).toBeUndefined();
  });
});

describe('ManualClock.every', () => {
  it('fires at each period of manual time until stopped', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const at: number[] = [];
    const stop = clock.every(100, () => at.push(clock.now() - start));
    await clock.fire();
    await clock.fire();
    expect(at).toEqual([100, 200]);
    stop();
    clock.setTimeout(() => at.push(-1), 1_000);
    await clock.fire();
    expect(at).toEqual([100, 200, -1]);
  });
});
