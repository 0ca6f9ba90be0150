/**
 * Test support (not part of the package): virtual time and a faulty
 * simulated network, so reconciliation tests run deterministically from a
 * seed, with no real timers and no timed assertions.
 *
 *     const time = virtualTime(); // a ManualClock from 0
 *     const link = new SimLink(time, prng(seed));
 *     link.faults = { drop: 0.2, duplicate: 0.1, maxDelayMs: 30 };
 *     const result = await time.run(engineA.reconcile());
 */
import type { Clock } from '../../common/clock.js';
import { mulberry32 } from '../../common/random.js';
import { ManualClock } from '../../common/testing/manual-clock.js';
import type { ReconciliationChannel } from '../channel.js';

/** mulberry32: a small seeded PRNG, [0, 1). */
export const prng = mulberry32;

/** Lets every pending promise callback run (nothing else in these tests uses real timers or I/O). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Virtual time for a simulation: a `ManualClock` from 0 that settles one `setImmediate` between timers. */
export function virtualTime(): ManualClock {
  return new ManualClock({ start: 0, settle });
}

/** Fault rates of a `SimLink`. */
export interface LinkFaults {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Each delivery is delayed uniformly in [0, maxDelayMs], so messages overtake each other. */
  maxDelayMs: number;
  /** While true, everything is lost. */
  partitioned: boolean;
}

/** A two-ended channel over virtual time with loss, duplication, reordering and partitions. */
export class SimLink {
  faults: LinkFaults = { drop: 0, duplicate: 0, maxDelayMs: 0, partitioned: false };
  /** Messages handed to the link, and deliveries made. */
  sent = 0;
  delivered = 0;
  private readonly handlers: [((m: Uint8Array) => void) | undefined, ((m: Uint8Array) => void) | undefined] = [undefined, undefined];
  readonly ends: [ReconciliationChannel, ReconciliationChannel];
  private readonly time: Clock;
  private readonly random: () => number;

  constructor(time: Clock, random: () => number) {
    this.time = time;
    this.random = random;
    this.ends = [this.end(0), this.end(1)];
  }

  private end(self: 0 | 1): ReconciliationChannel {
    return {
      send: (message) => {
        this.sent++;
        const f = this.faults;
        if (f.partitioned || this.random() < f.drop) return;
        const copies = this.random() < f.duplicate ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          const delay = Math.floor(this.random() * (f.maxDelayMs + 1));
          this.time.setTimeout(() => {
            this.delivered++;
            this.handlers[self === 0 ? 1 : 0]?.(message);
          }, delay);
        }
      },
      onMessage: (handler) => {
        this.handlers[self] = handler;
        return () => {
          if (this.handlers[self] === handler) this.handlers[self] = undefined;
        };
      },
    };
  }
}
