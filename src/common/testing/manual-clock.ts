/**
 * Test support (not part of the package): a `Clock` whose time moves only
 * when a test says so, so that timeouts, heartbeats, stall checks and
 * retransmissions run exactly when the test moves the time past them.
 *
 *     const clock = new ManualClock();
 *     const follower = await FollowerDb.open({ ..., clock });
 *     await clock.advance(10_000); // every timer due in those 10 s fires, in order
 *     await clock.fire(); // or: only the next timer fires, the time moving to it
 *     const outcome = await clock.run(engine.reconcile()); // or: timers fire until the promise settles
 *
 * Timers due at the same moment fire in the order they were set.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';

interface Timer {
  at: number;
  readonly every: number | undefined;
  readonly callback: () => void;
}

/** How a `ManualClock` starts. */
export interface ManualClockOptions {
  /** The time it shows before any timer fires. Default 1,000,000. */
  readonly start?: number;
  /**
   * How it lets the work a timer started finish before the next one fires.
   * Default `settle` (20 platform tasks, which covers a few awaits of real
   * I/O); a simulation where nothing but promises run can pass one
   * `setImmediate` instead, to run many more steps.
   */
  readonly settle?: () => Promise<void>;
}

/** Time that moves only with `advance`, `fire` or `run`; timers fire as it passes them. */
export class ManualClock implements Clock {
  time: number;
  private readonly timers = new Set<Timer>();
  private readonly settle: () => Promise<void>;

  constructor(options: ManualClockOptions = {}) {
    this.time = options.start ?? 1_000_000;
    this.settle = options.settle ?? settle;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.time + Math.max(0, ms), every: undefined, callback };
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
    for (let due = this.next(until); due; due = this.next(until)) {
      this.runTimer(due);
      await this.settle();
    }
    this.time = until;
    await this.settle();
  }

  /** Fires the next due timer alone (a repeating one is re-armed), moving the time to it; throws when no timer is set. */
  async fire(): Promise<void> {
    const due = this.next(Infinity);
    if (!due) throw new Error('ManualClock.fire: no timer is set');
    this.runTimer(due);
  }

  /**
   * Fires timers one by one, each as its turn comes, until `promise`
   * settles, and returns its outcome; throws if no timer is left (or
   * `maxSteps` have fired) before it settles.
   */
  async run<T>(promise: Promise<T>, maxSteps = 1_000_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    await this.settle();
    for (let steps = 0; outcome === undefined; steps++) {
      const due = steps < maxSteps ? this.next(Infinity) : undefined;
      if (!due) throw new Error('ManualClock.run: no timer was left to fire before the promise settled');
      this.runTimer(due);
      await this.settle();
    }
    return outcome;
  }

  /** The earliest timer due by `until` (the first set, among those due at once). */
  private next(until: number): Timer | undefined {
    let due: Timer | undefined;
    for (const timer of this.timers) if (timer.at <= until && (!due || timer.at < due.at)) due = timer;
    return due;
  }

  private runTimer(due: Timer): void {
    this.time = Math.max(this.time, due.at);
    if (due.every === undefined) this.timers.delete(due);
    else due.at += due.every;
    due.callback();
  }
}

/** Lets pending promise callbacks and zero-delay platform tasks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => globalThis.setTimeout(resolve, 0));
}
