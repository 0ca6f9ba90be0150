import { expect, test, type Page } from '@playwright/test';
import { forageReady as ready, openForage } from './forage-page.js';

// Forage's Sync panel on the real page, against a bucket endpoint that refuses connections (no
// store is needed to see the panel's life; the sync e2e specs test sync itself against Ceph): the
// settings saved in one tab reopen every tab with sync, the panel shows last sync, objects and
// bytes up and down, pending, and the failure in words; the passphrase and the S3 secret are
// nowhere in clear (localStorage, IndexedDB, tidal's data); "Forget" turns sync off in every tab.

const PASSPHRASE = 'correct horse battery staple';
const SECRET = 'SECRET-KEY-0123456789abcdef';

/** Everything this origin keeps that script can read as text: localStorage, the sync settings' IndexedDB record, tidal's entities. */
const storedText = (page: Page) =>
  page.evaluate(async () => {
    const idb = await new Promise<unknown>((resolve, reject) => {
      const open = indexedDB.open('forage-sync', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('settings');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const request = open.result.transaction('settings').objectStore('settings').get('settings');
        request.onsuccess = () => resolve(request.result);
      };
    });
    const bytesAsText = (_: string, v: unknown) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v);
    return JSON.stringify(
      { local: { ...localStorage }, idb: idb ?? null, tidal: await window.tidal.scan('', { limit: 10_000 }) },
      bytesAsText,
    );
  });

test('the Sync panel: set up in one tab, on in both, progress and errors in words, no secret in clear, forgotten everywhere', async ({
  context,
}) => {
  test.setTimeout(180_000);
  const a = await openForage(context);
  const b = await openForage(context);
  await expect(a.locator('#sync-state')).toHaveText('off');

  // Bad input is refused where it was typed, and nothing is stored.
  await a.click('#sync-setup summary');
  await a.fill('#sync-endpoint', 'not a url');
  await a.click('#sync-form button');
  await expect(a.locator('#sync-message.error')).toHaveText('endpoint: "not a url" is not the origin of an S3 store (https://host[:port])');

  await a.fill('#sync-endpoint', 'http://127.0.0.1:9'); // the discard port: nothing listens, every request is refused
  await a.fill('#sync-bucket', 'forage-e2e');
  await a.fill('#sync-access-key', 'forage-access');
  await a.fill('#sync-secret', SECRET);
  await a.fill('#sync-account', 'reader@example.org');
  await a.fill('#sync-passphrase', 'short');
  await a.click('#sync-form button');
  await expect(a.locator('#sync-message.error')).toHaveText('the sync passphrase must be a string of at least 8 characters');
  expect(await storedText(a)).toContain('"idb":null');

  // Saved: both tabs reopen with sync.
  await a.fill('#sync-passphrase', PASSPHRASE);
  const reloaded = Promise.all([a.waitForEvent('load', { timeout: 60_000 }), b.waitForEvent('load', { timeout: 60_000 })]);
  await a.click('#sync-form button');
  await reloaded;
  await Promise.all([ready(a), ready(b)]);
  for (const page of [a, b]) {
    await expect(page.locator('#sync-state')).not.toHaveText('off');
    await expect(page.locator('#sync-status dt')).toHaveText(['last sync', 'up', 'down', 'pending']);
    await expect(page.locator('#sync-endpoint')).toHaveValue('http://127.0.0.1:9');
    await expect(page.locator('#sync-passphrase')).toHaveValue('');
  }
  // Each shard is synced by the tab that leads it; its failure is said in words there.
  const errors = async () =>
    (await a.locator('#sync-errors li').allTextContents()).concat(await b.locator('#sync-errors li').allTextContents());
  await expect.poll(async () => (await errors()).join('\n'), { timeout: 90_000 }).toMatch(/^shard \d+: the bucket cannot be reached/);
  await expect(a.locator('#sync-state')).toHaveText(/errors|on|starting…/);
  const down = await a.locator('#sync-status dd').nth(2).textContent();
  expect(down).toBe('0 objects, 0 B');

  // No secret in clear anywhere script can read.
  for (const page of [a, b]) {
    const text = await storedText(page);
    expect(text).toContain('forage-access'); // the public fields are there
    expect(text).not.toContain(PASSPHRASE);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('tidal-key-1:');
  }

  // Forget: every tab reopens without sync, and the settings are gone.
  const again = Promise.all([a.waitForEvent('load', { timeout: 60_000 }), b.waitForEvent('load', { timeout: 60_000 })]);
  await a.click('#sync-forget');
  await again;
  await Promise.all([ready(a), ready(b)]);
  for (const page of [a, b]) {
    await expect(page.locator('#sync-state')).toHaveText('off');
    expect(await storedText(page)).toContain('"idb":null');
    expect(await page.evaluate(() => window.tidal.sync)).toBeUndefined();
  }
});
