/**
 * `AppliedWaiters`: promises of "LSN n is applied here", each with a
 * timeout, resolved as the leader applies its log.
 *
 *     const waiters = new AppliedWaiters(shard, clock, () => state.appliedLsn);
 *     await waiters.whenApplied(42);   // elsewhere: waiters.wake(lsn) after each apply
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';

/** Waiters for LSNs of one shard to be applied. */
export class AppliedWaiters {
  private readonly shard: ShardId;
  private readonly clock: Clock;
  private readonly appliedLsn: () => number;
  private readonly waiting = new Set<{ lsn: number; resolve(): void }>();

  /** Waiters on `shard`, timed by `clock`, against the LSN `appliedLsn` reports. */
  constructor(shard: ShardId, clock: Clock, appliedLsn: () => number) {
    this.shard = shard;
    this.clock = clock;
    this.appliedLsn = appliedLsn;
  }

  /** Resolves once `lsn` is applied; rejects with `Timeout` after `timeoutMs`. */
  whenApplied(lsn: number, timeoutMs: number): Promise<void> {
    if (lsn <= this.appliedLsn()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiting.delete(waiter);
        reject(
          new TidalError(
            'Timeout',
            `shard ${this.shard} leader did not reach LSN ${lsn} within ${timeoutMs} ms (applied ${this.appliedLsn()})`,
          ),
        );
      }, timeoutMs);
      const waiter = { lsn, resolve: () => (this.clock.clearTimeout(timer), resolve()) };
      this.waiting.add(waiter);
    });
  }

  /** `lsn` is applied: resolves every waiter at or below it. */
  wake(lsn: number): void {
    for (const waiter of this.waiting) {
      if (waiter.lsn <= lsn) {
        this.waiting.delete(waiter);
        waiter.resolve();
      }
    }
  }
}
