// Proves the e2e harness itself, in real Chromium, before any tidal e2e
// test relies on it: Vite serves a page whose module worker imports comlink
// and hash-wasm; that worker owns an OPFS file through an exclusive sync
// access handle; tabs of one browser context share OPFS, BroadcastChannel
// and Web Locks, and a closed tab's lock passes to the tab waiting for it.
import { randomBytes } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import { blake3 } from 'hash-wasm';
import type {} from './pages/harness.js'; // declares window.tidalHarness

/** Opens the harness page and waits until its probes are installed. */
async function openHarness(page: Page): Promise<string[]> {
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto('/e2e/pages/harness.html');
  await page.waitForFunction(() => 'tidalHarness' in window);
  return pageErrors;
}

test('a module worker imports comlink and hash-wasm and hashes the BLAKE3 test vector', async ({ page }) => {
  const pageErrors = await openHarness(page);
  const hex = await page.evaluate(() => window.tidalHarness.workerBlake3Hex('abc'));
  expect(hex).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  expect(pageErrors).toEqual([]);
});

test('the worker writes and reads OPFS through an exclusive sync access handle; another tab reads the file', async ({ page, context }) => {
  const bytes = randomBytes(256 * 1024 + 13); // not a multiple of any block size
  const expectedHex = await blake3(bytes); // computed in Node, independently of the browser
  const fileName = `harness-${bytes.toString('hex', 0, 8)}.bin`;

  const pageErrors = await openHarness(page);
  const trip = await page.evaluate(([name, base64]) => window.tidalHarness.workerOpfsWriteRead(name, base64), [
    fileName,
    bytes.toString('base64'),
  ] as const);
  expect(trip).toEqual({
    written: bytes.length,
    read: bytes.length,
    size: bytes.length,
    sameBytes: true,
    readBackBlake3Hex: expectedHex,
    secondHandleError: 'NoModificationAllowedError',
  });

  // The handle is closed now; a second tab of the same context sees the file.
  const otherTab = await context.newPage();
  const otherErrors = await openHarness(otherTab);
  const seen = await otherTab.evaluate((name) => window.tidalHarness.readOpfsFile(name), fileName);
  expect(seen).toEqual({ size: bytes.length, blake3Hex: expectedHex });
  expect([...pageErrors, ...otherErrors]).toEqual([]);
});

test('two tabs of one context exchange a BroadcastChannel message, bytes intact', async ({ page, context }) => {
  const channel = `tidal-harness-${randomBytes(4).toString('hex')}`;
  const receiver = await context.newPage();
  const errors = [...(await openHarness(page)), ...(await openHarness(receiver))];

  await receiver.evaluate((name) => window.tidalHarness.listen(name), channel);
  await page.evaluate((name) => window.tidalHarness.post(name, 'hello from the leader tab', '00ff10c3'), channel);
  const received = await receiver.evaluate((name) => window.tidalHarness.nextMessage(name), channel);
  expect(received).toEqual({ text: 'hello from the leader tab', bytesHex: '00ff10c3' });
  expect(errors).toEqual([]);
});

test('a Web Lock held by one tab passes to the tab waiting for it when the holder closes', async ({ page, context }) => {
  const lock = `tidal:harness:shard:${randomBytes(4).toString('hex')}`;
  const waiter = await context.newPage();
  const errors = [...(await openHarness(page)), ...(await openHarness(waiter))];

  await page.evaluate((name) => window.tidalHarness.holdLock(name), lock);
  expect(await waiter.evaluate((name) => window.tidalHarness.tryLock(name), lock)).toBe(false);
  await waiter.evaluate((name) => window.tidalHarness.queueLock(name), lock);
  expect(await waiter.evaluate(() => window.tidalHarness.pendingLocks())).toContain(lock);

  await page.close();
  await waiter.evaluate((name) => window.tidalHarness.lockGranted(name), lock);
  expect(await waiter.evaluate(() => window.tidalHarness.pendingLocks())).not.toContain(lock);
  expect(errors).toEqual([]);
});
