/**
 * `RequestPool`: at most `limit` requests to the store in flight at once,
 * so that sync overlaps the store's latency with its own work (sealing the
 * next chunk while the last one is being written, opening one chunk while
 * the next ones are read) without holding more than `limit` objects'
 * bytes in memory for it.
 *
 *     const pool = new RequestPool(3);
 *     for (const chunk of chunks) await pool.start(() => remote.putIfAbsent(key(chunk), chunk.sealed));
 *     await pool.drain(); // every request done; the first failure, if any, thrown here
 *
 *     const part = await pool.run(() => remote.get(key, { maxBytes, range })); // waits for a slot, then for the outcome
 */
import { TidalError } from '../common/errors.js';

/** A bound on the requests in flight, and their outcomes gathered. */
export class RequestPool {
  private readonly limit: number;
  private readonly running = new Set<Promise<unknown>>();
  private readonly all: Promise<unknown>[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new TidalError('InvalidArgument', `RequestPool: limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Starts `request` once fewer than `limit` are in flight; resolves when it has started (its outcome: `drain`). */
  async start(request: () => Promise<unknown>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running).catch(() => undefined);
    const outcome = request();
    const tracked = outcome.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(tracked);
    void tracked.then(() => this.running.delete(tracked));
    this.all.push(outcome);
    outcome.catch(() => undefined); // gathered by drain(); a failure must not go unhandled meanwhile
  }

  /** Runs `request` once fewer than `limit` are in flight; resolves with its outcome (also gathered by `drain`). */
  async run<T>(request: () => Promise<T>): Promise<T> {
    let outcome!: Promise<T>;
    await this.start(() => {
      outcome = request();
      return outcome.then(() => undefined); // the pool keeps the outcome, not the value (an object's bytes)
    });
    return outcome;
  }

  /** Waits for every request started; throws the first failure (in start order), if any. */
  async drain(): Promise<void> {
    const outcomes = await Promise.allSettled(this.all);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Waits for every request started, whatever their outcomes (after a failure elsewhere: no request outlives the round). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all);
  }
}
