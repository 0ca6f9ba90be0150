import { randomBytes } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import type { TidalStats } from '../src/index.js';

// The shutdown snapshot on OPFS, in Chromium: a database closed cleanly (`db.close()`) snapshots its
// shard at the last LSN before it lets go of the lead, so the next open loads that snapshot and replays
// no log at all, and reads the same state.

async function open(page: Page, name: string): Promise<void> {
  await page.goto(`/e2e/pages/db.html?name=${name}&shards=1`);
  await page.waitForFunction(() => window.tidal !== undefined || window.tidalError !== undefined, null, { timeout: 30_000 });
  expect(await page.evaluate(() => window.tidalError)).toBeUndefined();
}

const stats = (page: Page): Promise<TidalStats> => page.evaluate(() => window.tidal.stats());
const readAll = (page: Page) => page.evaluate(() => window.tidal.scan('k:', { limit: 1000 }));

test('a reopen after a clean close loads the shutdown snapshot: its LSN is the last LSN, and no log is replayed', async ({ page }) => {
  test.setTimeout(90_000);
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  const name = `closesnap-${randomBytes(4).toString('hex')}`;
  await open(page, name);
  // 1200 writes, one event each (a tick's writes share one), past the 1024 events a shutdown snapshot
  // needs and far below the policy's 512 KiB of log.
  await page.evaluate(async () => {
    for (let i = 0; i < 1200; i++) await window.tidal.set(`k:${i % 60}`, 'f', `v-${i}`);
  });
  const before = await stats(page);
  expect(before.shards[0]!.lsn).toBeGreaterThanOrEqual(1200);
  expect(before.shards[0]!.snapshotLsn).toBe(0); // the policy took none: this is the close's
  const written = await readAll(page);
  await page.evaluate(() => window.tidal.close());

  await open(page, name);
  await expect.poll(async () => (await stats(page)).shards[0]!.role, { timeout: 20_000 }).toBe('leader');
  const after = (await stats(page)).shards[0]!;
  expect(after.lsn).toBe(before.shards[0]!.lsn);
  expect(after.snapshotLsn).toBe(after.lsn);
  expect(after.opened).toMatchObject({ replayedEvents: 0 });
  expect(await readAll(page)).toEqual(written);
});
