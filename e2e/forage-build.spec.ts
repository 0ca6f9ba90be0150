import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { freePort } from '../scripts/free-port.mjs';
import { openForage } from './forage-page.js';
import { build, preview, type PreviewServer } from 'vite';

// Forage's production build: `vite build` (what `npm run build:demo` runs) into a temporary folder,
// served by `vite preview` on 127.0.0.1 (a free port: the e2e port is the dev server's), then the
// built page is used for real: the starter feed is there, a like in one tab shows in another, and
// the GloVe table (an asset the build renames) loads. The development server never serves these.

let outDir: string;
let server: PreviewServer;
let origin: string;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  outDir = mkdtempSync(join(tmpdir(), 'forage-build-'));
  // Rolldown's plugin-timing notes are not warnings about the build: off.
  await build({ logLevel: 'warn', build: { outDir, emptyOutDir: true, rolldownOptions: { checks: { pluginTimings: false } } } });
  const port = await freePort();
  server = await preview({ logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true } });
  origin = `http://127.0.0.1:${port}`;
});

test.afterAll(async () => {
  await server?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const openBuilt = (context: BrowserContext): Promise<Page> => openForage(context, `${origin}/`);

test('the built Forage: the starter feed, a like in one tab read in another, GloVe from the built assets', async ({ context }) => {
  test.setTimeout(120_000);
  const a = await openBuilt(context);
  await expect(a.locator('#counts')).toContainText('336 items');
  await expect(a.locator('#feed article.card')).toHaveCount(10);
  expect((await a.evaluate(() => window.forage.sources())).map((s) => s.url)).toContain(`${origin}/demo/forage/starter/orbit-notes.xml`);

  const b = await openBuilt(context);
  await expect(b.locator('#counts')).toContainText('336 items');
  const item = await a.locator('#feed article.card').first().getAttribute('data-item');
  await a.locator(`#feed article[data-item="${item}"] button.like`).click();
  await expect(b.locator('#counts')).toContainText('1 likes');
  const signals = await b.evaluate(() => window.forage.exportSignals());
  expect(
    signals
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { item_id: string; kind: string }),
  ).toEqual([expect.objectContaining({ item_id: item, kind: 'like' })]);

  await b.selectOption('#embedder', 'glove');
  await expect(b.locator('#embedder-message')).toHaveText(/^Labels now use glove-/, { timeout: 30_000 });

  // The inspector is built too, one click away.
  await a.click('a[href="./demo/inspector/"]');
  await a.waitForURL(`${origin}/demo/inspector/`);
  await expect(a.locator('body')).not.toBeEmpty();
});
