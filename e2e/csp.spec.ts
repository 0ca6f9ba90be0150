import { expect, test } from '@playwright/test';

// A page whose Content-Security-Policy refuses WebAssembly (no 'wasm-unsafe-eval'): the main thread's
// work (routing keys to shards, building operation blocks) must not depend on compiling any, so the
// database opens, writes and reads there as anywhere else.
test('a page whose policy refuses WebAssembly opens, writes, transacts and reads', async ({ page }) => {
  await page.goto(`/e2e/pages/csp.html?name=csp-${Date.now()}`);
  const compiles = await page.evaluate(() => {
    try {
      new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
      return 'compiled';
    } catch (error) {
      return String(error);
    }
  });
  expect(compiles, 'the policy does refuse WebAssembly on this page').not.toBe('compiled');
  await page.evaluate(async () => void (await window.tidalReady));
  const read = await page.evaluate(async () => {
    const db = window.tidal;
    for (let i = 0; i < 20; i++) await db.increment(`item-${i}`, 'click', i + 1);
    await db.transact((tx) => {
      tx.increment('item-3', 'click', 100);
      tx.set('item-4', 'label', 'kept');
    });
    return [await db.get('item-3'), await db.get('item-4'), await db.get('item-19')];
  });
  expect(read[0]?.counters['click']).toBe(104);
  expect(read[1]?.fields['label']).toBe('kept');
  expect(read[2]?.counters['click']).toBe(20);
});
