/**
 * Test support (not part of the package): a `Clock` whose time moves only
 * when a test says so, so that timeouts, heartbeats and stall checks run
 * exactly when the test moves the time past them.
 *
 *     const clock = new ManualClock();
 *     const follower = await FollowerDb.open({ ..., clock });
 *     await clock.advance(10_000); // every timer due in those 10 s fires, in order
 *     await clock.fire(); // or: only the next timer fires, the time moving to it
 */
import type { Clock, TimerHandle } from '../../common/clock.js';

interface Timer {
  at: number;
  readonly every: number | undefined;
  readonly callback: () => void;
}

/** Time that moves only with `advance`; timers fire as it passes them. */
export class ManualClock implements Clock {
  time = 1_000_000;
  private readonly timers = new Set<Timer>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.time + ms, every: undefined, callback };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers.delete(handle as Timer);
  }

  every(ms: number, callback: () => void): () => void {
    const timer: Timer = { at: this.time + ms, every: ms, callback };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Moves the time on by `ms`, firing each timer as its turn comes, and lets the callbacks' promises settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      let due: Timer | undefined;
      for (const timer of this.timers) if (timer.at <= until && (!due || timer.at < due.at)) due = timer;
      if (!due) break;
      this.time = due.at;
      if (due.every === undefined) this.timers.delete(due);
      else due.at += due.every;
      due.callback();
      await settle();
    }
    this.time = until;
    await settle();
  }

  /** Fires the next due timer alone (a repeating one is re-armed), moving the time to it; throws when no timer is set. */
  async fire(): Promise<void> {
    let due: Timer | undefined;
    for (const timer of this.timers) if (!due || timer.at < due.at) due = timer;
    if (!due) throw new Error('ManualClock.fire: no timer is set');
    this.time = due.at;
    if (due.every === undefined) this.timers.delete(due);
    else due.at += due.every;
    due.callback();
  }
}

/** Lets pending promise callbacks and zero-delay platform tasks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => globalThis.setTimeout(resolve, 0));
}
