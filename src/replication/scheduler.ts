/**
 * Time for the replication layer, injected so that tests control it: the
 * current time and a periodic callback. `systemScheduler` is the real one.
 */

/** The clock and periodic timer replication runs on; `systemScheduler` is the real one, tests pass their own. */
export interface Scheduler {
  /** Milliseconds, on the same clock as HLC wall time (`Date.now`). */
  now(): number;
  /** Calls `callback` every `ms` until the returned function is called. */
  every(ms: number, callback: () => void): () => void;
}

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  every(ms, callback) {
    const handle = setInterval(callback, ms);
    return () => clearInterval(handle);
  },
};
