/**
 * Time, injected: one `Clock` gives the wall clock and the timers, so that
 * code that waits, times out or retries can be driven by a test instead of
 * the platform. Library code takes a `Clock` (default `systemClock`) and
 * never calls `setTimeout`, `setInterval` or `Date.now` itself.
 *
 *     const clock = options.clock ?? systemClock;
 *     const handle = clock.setTimeout(() => retry(), 20);
 *     clock.clearTimeout(handle);
 *     await withTimeout(clock, host.status(), 2000, 'shard 3 worker'); // `Timeout` after 2 s
 *
 * One `Clock` serves every layer: replication (`FollowerDb`, `WalShipper`)
 * and reconciliation (`ReconciliationEngine`) take it as their `clock` option.
 */
import { TidalError } from './errors.js';

/** A pending timer, as `Clock.setTimeout` returns it (opaque: only `clearTimeout` uses it). */
export type TimerHandle = unknown;

/** The wall clock and timers. */
export interface Clock {
  /** Milliseconds since the epoch (the wall clock HLCs and session expiry use). */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a pending `setTimeout` (a no-op for `undefined`, or one already run or cancelled). */
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Calls `callback` every `ms` milliseconds until the returned function is called. */
  every(ms: number, callback: () => void): () => void;
}

/** The platform's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => {
    if (handle !== undefined) globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
  },
  every(ms, callback) {
    const handle = globalThis.setInterval(callback, ms);
    return () => globalThis.clearInterval(handle);
  },
};

/** Resolves after `ms` milliseconds of `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * `promise`, or a `Timeout` error naming `what` if it has not settled
 * within `ms` (comlink calls, for one, have no timeout of their own).
 */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: TimerHandle;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new TidalError('Timeout', `${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clock.clearTimeout(timer));
}
