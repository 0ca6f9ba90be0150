/**
 * Test support (not part of the package): virtual time and a faulty
 * simulated network, so reconciliation tests run deterministically from a
 * seed, with no real timers and no timed assertions.
 *
 *     const time = new VirtualTime();
 *     const link = new SimLink(time, prng(seed));
 *     link.faults = { drop: 0.2, duplicate: 0.1, maxDelayMs: 30 };
 *     const result = await time.run(engineA.reconcile());
 */
import { mulberry32 } from '../common/random.js';
import type { ReconciliationChannel, ReconciliationTimers } from './channel.js';

/** mulberry32: a small seeded PRNG, [0, 1). */
export const prng = mulberry32;

interface Task {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** Lets every pending promise callback run (nothing else in these tests uses real timers or I/O). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A virtual clock and timer queue: time moves only when `run` or `advance` moves it. */
export class VirtualTime implements ReconciliationTimers {
  /** Virtual milliseconds since the start. */
  now = 0;
  private seq = 0;
  private tasks: Task[] = [];

  setTimeout(callback: () => void, ms: number): unknown {
    const task: Task = { at: this.now + Math.max(0, ms), seq: this.seq++, run: callback, cancelled: false };
    this.tasks.push(task);
    return task;
  }

  clearTimeout(handle: unknown): void {
    if (handle && typeof handle === 'object') (handle as Task).cancelled = true;
  }

  /** Runs the earliest task; false when none is left. */
  private step(): boolean {
    this.tasks = this.tasks.filter((t) => !t.cancelled);
    if (this.tasks.length === 0) return false;
    let next = 0;
    for (let i = 1; i < this.tasks.length; i++) {
      const t = this.tasks[i]!;
      const best = this.tasks[next]!;
      if (t.at < best.at || (t.at === best.at && t.seq < best.seq)) next = i;
    }
    const task = this.tasks.splice(next, 1)[0]!;
    this.now = Math.max(this.now, task.at);
    task.run();
    return true;
  }

  /** Runs tasks (and the promise callbacks they trigger) until `promise` settles; returns its outcome. Throws if time stops first. */
  async run<T>(promise: Promise<T>, maxSteps = 1_000_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    await settle();
    for (let steps = 0; outcome === undefined; steps++) {
      if (steps >= maxSteps || !this.step()) throw new Error('virtual time ran out of tasks before the promise settled');
      await settle();
    }
    return outcome;
  }

  /** Runs every task due within the next `ms` milliseconds. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    await settle();
    for (;;) {
      this.tasks = this.tasks.filter((t) => !t.cancelled);
      if (!this.tasks.some((t) => t.at <= until)) break;
      this.step();
      await settle();
    }
    this.now = until;
  }
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
  private readonly time: VirtualTime;
  private readonly random: () => number;

  constructor(time: VirtualTime, random: () => number) {
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
