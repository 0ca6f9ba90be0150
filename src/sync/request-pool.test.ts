import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { RequestPool } from './request-pool.js';

/** A request that resolves (or rejects) when told to. */
function controlled() {
  let settle!: (ok: boolean) => void;
  const promise = new Promise<string>((resolve, reject) => (settle = (ok) => (ok ? resolve('done') : reject(new Error('refused')))));
  return { promise, settle };
}

describe('RequestPool', () => {
  it('keeps at most `limit` requests in flight, starting the next as one finishes', async () => {
    const pool = new RequestPool(2);
    const requests = [controlled(), controlled(), controlled()];
    let started = 0;
    await pool.start(() => (started++, requests[0]!.promise));
    await pool.start(() => (started++, requests[1]!.promise));
    const third = pool.start(() => (started++, requests[2]!.promise));
    await new Promise((r) => setTimeout(r, 5));
    expect(started).toBe(2); // the third waits for a free slot
    requests[1]!.settle(true);
    await third;
    expect(started).toBe(3);
    requests[0]!.settle(true);
    requests[2]!.settle(true);
    await pool.drain();
  });

  it('drain waits for every request and throws the first failure; settled never throws', async () => {
    const pool = new RequestPool(3);
    const requests = [controlled(), controlled(), controlled()];
    for (const r of requests) await pool.start(() => r.promise);
    let drained = false;
    const draining = pool.drain().then(
      () => (drained = true),
      (error: unknown) => error,
    );
    requests[1]!.settle(false);
    requests[0]!.settle(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(drained).toBe(false); // the third is still in flight
    requests[2]!.settle(false);
    expect(((await draining) as Error).message).toBe('refused');
    await expect(pool.settled()).resolves.toBeUndefined();
  });

  it('refuses a limit that is not a positive integer', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(
        isTidalError(
          (() => {
            try {
              new RequestPool(limit);
            } catch (e) {
              return e;
            }
          })(),
          'InvalidArgument',
        ),
      ).toBe(true);
    }
  });
});
