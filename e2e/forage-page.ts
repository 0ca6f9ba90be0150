// Forage in a tab, for the Forage e2e specs: a new page of `context` on Forage (the page `npm run dev`
// serves at `/`, or a built copy's origin), its uncaught errors logged, once it has rendered its
// first slate (`body[data-ready]`, set after the starter feeds are in and the feed is drawn).
import { expect, type BrowserContext, type Page } from '@playwright/test';

/** Resolves once `page` (already on Forage) has rendered its first slate. */
export async function forageReady(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset['ready'] === 'true', null, { timeout: 60_000 });
}

/** Opens Forage at `url` in a new tab of `context` and waits until its first render shows a card. */
export async function openForage(context: BrowserContext, url = '/'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(url);
  await forageReady(page);
  await expect(page.locator('#feed article.card').first()).toBeVisible();
  return page;
}
