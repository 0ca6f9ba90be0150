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
  every(): () => void {
    throw new Error('ManualClock.every is not implemented');
  }
  /** Runs the next due timer (moving the time to it). */
  async fire(): Promise<void> {
    const [id, timer] = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0]!;
    this.timers.delete(id);
    this.time = timer.at;
    timer.callback();
  }
}
