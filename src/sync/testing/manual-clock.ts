/** A `Clock` for tests that moves only when told to: `fire()` runs the next due timer, moving the time to it. */
import type { Clock, TimerHandle } from '../../common/clock.js';

export class ManualClock implements Clock {
  time = 1_000_000;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();
  private next = 1;

  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers.delete(handle as number);
  }
  /** Calls `callback` every `ms` of manual time: each firing re-arms it, until the returned stop. */
  every(ms: number, callback: () => void): () => void {
    let handle: TimerHandle | undefined;
    let stopped = false;
    const arm = () => {
      handle = this.setTimeout(() => {
        if (stopped) return;
        arm();
        callback();
      }, ms);
    };
    arm();
    return () => {
      stopped = true;
      this.clearTimeout(handle);
    };
  }
  /** Runs the next due timer (moving the time to it). */
  async fire(): Promise<void> {
    const [id, timer] = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0]!;
    this.timers.delete(id);
    this.time = timer.at;
    timer.callback();
  }
}
