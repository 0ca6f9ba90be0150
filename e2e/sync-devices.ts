// Devices of one user for the sync e2e specs: a device is a browser context (its own OPFS and
// localStorage, so its own sync device id) whose pages open e2e/pages/sync.html with the sync
// options given here.
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import type { CephCluster } from '../scripts/ceph.mjs';
import type { SyncOptions } from '../src/index.js';

/** Sync options for `cluster` under the user key `key` (every gateway listed; manual rounds unless overridden). */
export function syncOptions(cluster: CephCluster, key: string, overrides: Partial<SyncOptions> = {}): SyncOptions {
  return {
    endpoints: cluster.endpoints, // all gateways: the client moves to the next one when one fails
    bucket: cluster.bucket,
    accessKeyId: cluster.accessKeyId,
    secretAccessKey: cluster.secretAccessKey,
    key,
    auto: false,
    ...overrides,
  };
}

/** A new device: a browser context whose pages open their database with `options`. */
export async function device(browser: Browser, options: SyncOptions): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript((o) => ((window as unknown as { tidalSyncOptions: SyncOptions }).tidalSyncOptions = o), options);
  return context;
}

/** A tab of `context` with database `name` (2 shards) open as `window.tidal`. */
export async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(`/e2e/pages/sync.html?name=${name}&shards=2`);
  await page.waitForFunction(() => window.tidal !== undefined || window.tidalError !== undefined, null, { timeout: 30_000 });
  expect(await page.evaluate(() => window.tidalError)).toBeUndefined();
  return page;
}

/** Every entity of the tab's database, in key order. */
export const everything = (page: Page) => page.evaluate(() => window.tidal.scan('', { limit: 10_000 }));
