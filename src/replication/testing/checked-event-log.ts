/**
 * `CheckedEventLog`: a test-only state machine, an `EventLog` that also
 * checks the replication contract as events arrive: each LSN exactly once,
 * in order, with no gap (the first applied LSN is 1, or the one given). A
 * breach is recorded, not thrown, so a test can read every one of them at
 * the end rather than lose the replica at the first.
 *
 * Not part of the library.
 */
import type { Value } from '../../wal/payload.js';
import { EventLog } from '../state-machine.js';

/** An `EventLog` that records every apply breaking the exactly-once, in-order, gap-free contract. */
export class CheckedEventLog extends EventLog {
  /** Applies that were not the next LSN, as `expected <n>, got <m>` (at most 20 kept). */
  readonly violations: string[] = [];
  /** How many applies broke the contract (all of them, not only those kept). */
  violationCount = 0;
  private nextLsn: number;

  /** `firstLsn`: the LSN the first apply must carry. Default 1. */
  constructor(firstLsn = 1) {
    super();
    this.nextLsn = firstLsn;
  }

  override apply(lsn: number, event: Value): void {
    if (lsn !== this.nextLsn) {
      this.violationCount++;
      if (this.violations.length < 20) this.violations.push(`expected ${this.nextLsn}, got ${lsn}`);
    }
    this.nextLsn = lsn + 1;
    super.apply(lsn, event);
  }
}
