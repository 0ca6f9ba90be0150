/**
 * A follower's acknowledgements, grouped: payloads applied within
 * `delayMs` of each other ride on one acknowledgement (it covers every LSN
 * up to the applied one), sent at once when `maxBytes` have gone
 * unacknowledged.
 */
import type { Clock, TimerHandle } from '../common/clock.js';

export class GroupedAcks {
  private readonly clock: Clock;
  private readonly delayMs: number;
  private readonly maxBytes: number;
  private readonly send: () => void;
  private timer: TimerHandle | undefined;
  private unackedBytes = 0;

  /** `send`: acknowledges the applied LSN now. */
  constructor(clock: Clock, delayMs: number, maxBytes: number, send: () => void) {
    this.clock = clock;
    this.delayMs = delayMs;
    this.maxBytes = maxBytes;
    this.send = send;
  }

  /** A payload of `bytes` was applied: acknowledged within `delayMs`, or now past `maxBytes`. */
  soon(bytes: number): void {
    this.unackedBytes += bytes;
    if (this.unackedBytes >= this.maxBytes) this.now();
    else this.timer ??= this.clock.setTimeout(() => this.now(), this.delayMs);
  }

  /** Acknowledges now (a pending acknowledgement goes with it). */
  now(): void {
    this.cancel();
    this.send();
  }

  /** Drops the pending acknowledgement, if any. */
  cancel(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.unackedBytes = 0;
  }
}
