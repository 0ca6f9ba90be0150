/**
 * `HeldPayloads`: verified payloads that arrived ahead of a gap, held (up
 * to a bound) until the gap fills, so that the follower need not be sent
 * them again.
 *
 *     if (first > applied + 1) held.hold(first, batches);
 *     for (let next = held.take(applied + 1); next; next = held.take(applied + 1)) apply(next);
 *     held.dropThrough(applied);
 */

/** Runs of batches, by the first LSN of each run; at most `max` runs. */
export class HeldPayloads<Run> {
  private readonly runs = new Map<number, Run>();
  private readonly max: number;

  /** Holds at most `max` runs; one more is not held (it is asked for again). */
  constructor(max: number) {
    this.max = max;
  }

  /** Holds `run`, which starts at `firstLsn`, unless the bound is reached. */
  hold(firstLsn: number, run: Run): void {
    if (this.runs.size < this.max) this.runs.set(firstLsn, run);
  }

  /** The run that starts at `firstLsn`, taken out; `undefined` when none is held. */
  take(firstLsn: number): Run | undefined {
    const run = this.runs.get(firstLsn);
    if (run !== undefined) this.runs.delete(firstLsn);
    return run;
  }

  /** Drops the runs that start at or before `lsn` (they hold nothing new). */
  dropThrough(lsn: number): void {
    for (const key of [...this.runs.keys()]) if (key <= lsn) this.runs.delete(key);
  }

  /** Drops every run (a new leader, or a snapshot installed). */
  clear(): void {
    this.runs.clear();
  }
}
