import { describe, expect, it } from 'vitest';
import { sleep, withTimeout, type Clock } from './clock.js';
import { isTidalError } from './errors.js';

/** A clock whose time moves only when the test says so. */
function manualClock(): Clock & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    every() {
      throw new Error('not used');
    },
    pending: () => timers.size,
    advance(ms) {
      now += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at > now) continue;
        timers.delete(id);
        timer.callback();
      }
    },
  };
}

describe('Clock helpers', () => {
  it('withTimeout rejects with Timeout once the injected clock passes the bound, naming what did not answer', async () => {
    const clock = manualClock();
    const never = new Promise<never>(() => undefined);
    const bounded = withTimeout(clock, never, 2000, 'shard 3 worker');
    clock.advance(1999);
    let settled = false;
    void bounded.catch(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    const error = await bounded.catch((e: unknown) => e);
    expect(isTidalError(error, 'Timeout')).toBe(true);
    expect((error as Error).message).toContain('shard 3 worker did not answer within 2000 ms');
  });

  it('withTimeout passes a result on and cancels its timer', async () => {
    const clock = manualClock();
    await expect(withTimeout(clock, Promise.resolve(7), 10, 'x')).resolves.toBe(7);
    expect(clock.pending()).toBe(0);
    const slept = sleep(clock, 5);
    clock.advance(5);
    await expect(slept).resolves.toBeUndefined();
  });
});
