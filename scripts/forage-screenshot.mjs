// The README's picture of Forage (docs/images/forage.png), made the same way every time: the dev
// server on 127.0.0.1 (TIDAL_E2E_PORT, default 5199), a one-node Ceph for the Sync panel
// (scripts/ceph.mjs), Debian's Chromium, a short scripted session (likes and dismisses, two
// labels, sync set up and run once), then a shot of the top of the page.
//
//   node scripts/forage-screenshot.mjs
import { chromium } from 'playwright';
import { createServer } from 'vite';
import { startCeph } from './ceph.mjs';
import { chromiumArgs, chromiumPath } from './chromium.mjs';

const port = Number(process.env.TIDAL_E2E_PORT ?? 5199);
const origin = `http://127.0.0.1:${port}`;
const server = await createServer({ logLevel: 'warn', server: { host: '127.0.0.1', port, strictPort: true } });
await server.listen();
const ceph = await startCeph({ nodes: 1 });
const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1330 } });
  const page = await context.newPage();
  const ready = () => page.waitForFunction(() => document.body.dataset['ready'] === 'true', null, { timeout: 90_000 });
  await page.goto(`${origin}/`);
  await ready();

  // A few slates read: the space and weather feeds liked, some cooking dismissed; two labels.
  await page.evaluate(async () => {
    const forage = window.forage;
    const liked = new Set(['Orbit Notes', 'Grid & Weather']);
    for (let round = 0; round < 4; round++) {
      const slate = await forage.nextSlate();
      const sources = new Map((await forage.sources()).map((s) => [s.id, s.title]));
      for (const [position, item] of slate.items.entries()) {
        const title = sources.get(item.source) ?? '';
        if (liked.has(title) && position % 3 !== 2) await forage.signal(item.id, 'like', { slateId: slate.id });
        else if (title === 'The Small Kitchen' || title === 'Liner Notes') await forage.signal(item.id, 'dismiss', { slateId: slate.id });
      }
    }
    const orbit = (await forage.sources()).find((s) => s.title === 'Orbit Notes');
    const space = await forage.nextSlate({ context: { kind: 'source', sourceId: orbit.id }, size: 2 });
    const label = await forage.createLabel('Space');
    for (const item of space.items) await forage.addPositive(label.id, item.id);
    await forage.createLabel('Cooking');
    await forage.nextSlate(); // a fresh slate on top, not yet read
  });

  // Sync through the Ceph bucket, set up in the panel; one round run.
  await page.click('#sync-setup summary');
  await page.fill('#sync-endpoint', ceph.endpoints[0]);
  await page.fill('#sync-bucket', ceph.bucket);
  await page.fill('#sync-access-key', ceph.accessKeyId);
  await page.fill('#sync-secret', ceph.secretAccessKey);
  await page.fill('#sync-account', 'reader@example.org');
  await page.fill('#sync-passphrase', 'a passphrase only for this picture');
  const reloaded = page.waitForEvent('load', { timeout: 90_000 });
  await page.click('#sync-form button');
  await reloaded;
  await ready();
  await page.click('#sync-now');
  await page.waitForFunction(() => document.querySelector('#sync-state')?.textContent === 'on', null, { timeout: 90_000 });
  await page.waitForFunction(() => !document.querySelector('#sync-status dd:nth-of-type(2)')?.textContent?.startsWith('0 '), null, {
    timeout: 90_000,
  });
  await page.keyboard.press('j');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.mouse.move(0, 0);
  await page.screenshot({ path: 'docs/images/forage.png' });
  console.log('docs/images/forage.png written');
} finally {
  await browser.close();
  await ceph.stop();
  await server.close();
}
