import { expect, test, type Page } from '@playwright/test';

// A frozen (hung) shard worker, and the reads waiting on it. A worker that stops answering its
// liveness check for 2 s is terminated and replaced (WorkerSupervisor); a read sent to it before
// must not fail because of that: it is asked again of the worker that replaces it, within the
// read's own bound. `debug.hangWorker` busy-loops the worker: it answers nothing, ships nothing.

const TAB = '/e2e/pages/db.html?name=frozen-worker&shards=2';

async function restarts(page: Page, shard: number): Promise<number> {
  return page.evaluate(async (k) => (await window.tidal.stats()).shards[k]!.restarts, shard);
}

test('a read sent to a worker that hangs and is replaced is answered by the worker that replaces it', async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto(TAB);
  await page.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  const key = await page.evaluate(async () => {
    // A key of shard 0, with a value to read back.
    for (let i = 0; ; i++) {
      const token = await window.tidal.increment(`r:${i}`, 'n', 7);
      if (token.shard === 0) return `r:${i}`;
    }
  });
  const before = await restarts(page, 0);
  const read = await page.evaluate(async (k) => {
    window.tidal.debug!.hangWorker(0, 8000); // far past the 2 s liveness check: the worker is replaced
    const [entity, scanned] = await Promise.all([
      window.tidal.get(k, { timeoutMs: 30_000 }),
      window.tidal.scan('r:', { timeoutMs: 30_000 }),
    ]);
    return { n: entity?.counters['n'], scanned: scanned.find((row) => row.key === k)?.entity.counters['n'] };
  }, key);
  expect(read).toEqual({ n: 7, scanned: 7 });
  // The worker asked first was replaced: the answers came from its successor.
  expect(await restarts(page, 0)).toBeGreaterThan(before);
});
