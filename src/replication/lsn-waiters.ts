/**
 * `LsnWaiters`: callers waiting for a replica to reach an LSN (a reader
 * holding the token of its own write), each with its own timeout.
 *
 *     const waiters = new LsnWaiters(() => `follower of shard ${shard}`, clock);
 *     await waiters.wait(lsn, applied, 10_000);  // elsewhere: waiters.reached(applied)
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';

interface Waiter {
  readonly lsn: number;
  resolve(): void;
  reject(error: TidalError): void;
}

/** Promises of LSNs to come, resolved as the replica applies them. */
export class LsnWaiters {
  private readonly waiters: Waiter[] = [];
  private readonly describe: () => string;
  private readonly clock: Clock;

  /** `describe` names the replica in error messages; the timeouts run on `clock`. */
  constructor(describe: () => string, clock: Clock) {
    this.describe = describe;
    this.clock = clock;
  }

  /** Resolves once `reached(n)` is called with `n >= lsn`; `Timeout` after `timeoutMs`. `applied` is where the replica is now. */
  wait(lsn: number, applied: number, timeoutMs: number): Promise<void> {
    if (lsn <= applied) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new TidalError('Timeout', `${this.describe()} did not reach LSN ${lsn} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        lsn,
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          this.clock.clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The replica has applied every LSN up to `applied`. */
  reached(applied: number): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.lsn <= applied) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Rejects every waiter with `Closed`, saying why. */
  closeAll(why: string): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new TidalError('Closed', `${this.describe()} stopped (${why}) before LSN ${waiter.lsn}`));
    }
  }
}
