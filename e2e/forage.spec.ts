import { readFileSync } from 'node:fs';
import { expect, test, type Download, type Page } from '@playwright/test';
import { openForage } from './forage-page.js';

// Forage on the real page `npm run dev` serves at `/`: the page opens the database (window.tidal),
// Forage's worker runs the handlers, window.forage is the client the page itself uses. One scripted
// session: the starter bundle, a feed served by the test server, an OPML import, likes and dismisses
// by keyboard, a label with a hard negative, a second tab that shows the same, a reload, the exports;
// then bad input, each refused in the page with a clear message and nothing stored.

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

const sources = (page: Page) => page.evaluate(() => window.forage.sources());
const labels = (page: Page) => page.evaluate(() => window.forage.labels());
const feedIds = (page: Page) =>
  page.locator('#feed article.card').evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset['item']));

async function downloaded(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [download] = (await Promise.all([page.waitForEvent('download'), page.click(button)])) as [Download, void];
  return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
}

const jsonLines = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('a Forage session: starter feed, a feed and an OPML import, likes, a label with a hard negative, two tabs, reload, exports', async ({
  context,
  baseURL,
}) => {
  test.setTimeout(180_000);
  const a = await openForage(context);

  // The starter bundle: 8 sources, 336 stories (the digest's 30 re-posts are the same items, with two sources).
  const starter = await sources(a);
  expect(starter.map((s) => s.title)).toEqual([
    'Allotment Diary',
    'Grid & Weather',
    'Liner Notes',
    'Morning Digest',
    'Orbit Notes',
    'The Gradient Cyclist',
    'The Small Kitchen',
    'Web Platform Weekly',
  ]);
  await expect(a.locator('#counts')).toContainText('336 items');
  await expect(a.locator('#feed article.card')).toHaveCount(10);
  await expect(a.locator('#chart svg g.posterior')).toHaveCount(8);

  // A feed served by the test server, added in the page: 5 items, one of them a starter story under a tracking link.
  await a.fill('#source-url', `${baseURL}/e2e/fixtures/forage-feed.xml`);
  await a.click('#add-source button');
  await expect(a.locator('#source-message')).toHaveText('Fixture Feed: 5 items, 4 new, 1 already here from another source.');
  await expect(a.locator('#counts')).toContainText('340 items');

  // An OPML file picked in the page: two more feeds (Atom and JSON Feed) of the test server.
  const opml = readFileSync(fixture('forage-sources.opml'), 'utf8').replaceAll('{origin}', baseURL!);
  await a.setInputFiles('#file', { name: 'subscriptions.opml', mimeType: 'text/x-opml', buffer: Buffer.from(opml) });
  await expect(a.locator('#source-message')).toHaveText('OPML: 2 of 2 feeds added.');
  expect((await sources(a)).map((s) => s.title)).toEqual(expect.arrayContaining(['Fixture Feed', 'Fixture Atom', 'Fixture JSON']));
  await expect(a.locator('#counts')).toContainText('344 items');
  await expect(a.locator('#sources li')).toHaveCount(11);

  // Keyboard: j selects the first card, l likes it; j, d dismisses the second (it leaves the feed).
  const [first, second] = (await feedIds(a)) as [string, string];
  await a.keyboard.press('j');
  await expect(a.locator('#feed article.card.selected')).toHaveAttribute('data-item', first);
  await a.keyboard.press('l');
  await expect(a.locator(`#feed article[data-item="${first}"]`)).toHaveClass(/liked/);
  await a.keyboard.press('j');
  await a.keyboard.press('d');
  await expect(a.locator(`#feed article[data-item="${second}"]`)).toHaveCount(0);
  await expect(a.locator('#counts')).toContainText('1 likes · 1 dismissed');
  const liked = await a.locator(`#feed article[data-item="${first}"] h3`).textContent();

  // A label: created in the page, the liked item added as a positive, then viewed; dismissing an item
  // while viewing the label makes it a hard negative of the label.
  await a.fill('#label-name', 'Favourites');
  await a.click('#add-label button');
  await expect(a.locator('#label-message')).toContainText('Label "Favourites" created');
  await a.locator(`#feed article[data-item="${first}"] select.add-label`).selectOption({ label: 'Favourites' });
  await expect(a.locator(`#feed article[data-item="${first}"] .chip`)).toHaveText(/Favourites/);
  const [label] = await labels(a);
  expect(label).toMatchObject({ name: 'Favourites', positives: [first], hardNegatives: [] });
  expect(label!.items).toBeGreaterThan(1); // the positive and its near neighbours
  await a.click(`#labels li[data-label="${label!.id}"] a`);
  await expect(a.locator('#context-title')).toHaveText('Label: Favourites');
  await expect(a.locator('#feed article.card').first()).toBeVisible();
  const inLabel = (await feedIds(a)).filter((id) => id !== first);
  expect(inLabel.length).toBeGreaterThan(0);
  const negative = inLabel[0]!;
  await a.locator(`#feed article[data-item="${negative}"] button.dismiss`).click();
  await expect.poll(async () => (await labels(a))[0]!.hardNegatives).toEqual([negative]);
  await a.click('#context-reset');
  await expect(a.locator('#context-title')).toHaveText('Your feed');

  // A second tab shows the same feed, labels and posteriors.
  const b = await openForage(context);
  await expect.poll(() => feedIds(b)).toEqual(await feedIds(a));
  expect(await labels(b)).toEqual(await labels(a));
  expect(await sources(b)).toEqual(await sources(a));
  await expect(b.locator('#counts')).toHaveText(await a.locator('#counts').innerText());

  // A like in tab B updates tab A live (a tidal subscription, no polling): counters, the card, the posterior.
  const third = (await feedIds(b)).find((id) => id !== first)!;
  const before = (await sources(a)).map((s) => s.posterior.alpha).reduce((x, y) => x + y);
  await b.locator(`#feed article[data-item="${third}"] button.like`).click();
  await expect(a.locator('#counts')).toContainText('2 likes');
  await expect(a.locator(`#feed article[data-item="${third}"]`)).toHaveClass(/liked/);
  expect((await sources(a)).map((s) => s.posterior.alpha).reduce((x, y) => x + y)).toBeGreaterThan(before);

  // After a reload, everything is still there.
  await a.reload();
  await a.waitForFunction(() => document.body.dataset['ready'] === 'true');
  await expect.poll(() => feedIds(a)).toEqual(await feedIds(b));
  expect(await labels(a)).toEqual(await labels(b));
  expect(await sources(a)).toEqual(await sources(b));
  await expect(a.locator('#counts')).toContainText('344 items · 2 likes · 2 dismissed');

  // The exports, downloaded from the page.
  const signals = await downloaded(a, '#export-signals');
  expect(signals.name).toBe('signals.jsonl');
  const rows = jsonLines(signals.text);
  expect(rows.map((r) => [r['item_id'], r['kind']])).toEqual([
    [first, 'like'],
    [second, 'dismiss'],
    [negative, 'dismiss'],
    [third, 'like'],
  ]);
  expect(rows[0]).toMatchObject({ title: liked, position: 0 });
  expect(await a.evaluate(() => window.forage.exportSignals())).toBe(signals.text);
  const preferences = await downloaded(a, '#export-preferences');
  expect(preferences.name).toBe('preferences.jsonl');
  const pairs = jsonLines(preferences.text);
  // Within the first slate: the liked first item is preferred to the dismissed second (like > dismiss).
  expect(pairs).toContainEqual(expect.objectContaining({ rule: 'like>dismiss', chosen_id: first, rejected_id: second }));
  for (const pair of pairs) {
    expect(typeof pair['prompt']).toBe('string');
    expect(pair['chosen']).not.toBe(pair['rejected']);
  }
  const kto = jsonLines((await downloaded(a, '#export-kto')).text);
  expect(kto.map((r) => [r['item_id'], r['label']])).toEqual(
    expect.arrayContaining([
      [first, true],
      [second, false],
    ]),
  );
  const sourcesOpml = await downloaded(a, '#export-opml');
  expect(sourcesOpml.name).toBe('sources.opml');
  expect(sourcesOpml.text).toContain('/e2e/fixtures/forage-atom.xml');
  expect(sourcesOpml.text.match(/xmlUrl=/g)).toHaveLength(11);

  // GloVe word vectors for labels, chosen in one tab, loaded from the demo's own table, used in both.
  await a.selectOption('#embedder', 'glove');
  await expect(a.locator('#embedder-message')).toHaveText(/^Labels now use glove-/, { timeout: 30_000 });
  await expect(b.locator('#embedder')).toHaveValue('glove');
  await expect.poll(async () => (await labels(b))[0]!.positives).toEqual([first]);
  expect(await labels(b)).toEqual(await labels(a));
});

test('bad input in the page: a clear message where it happened, and nothing stored', async ({ context, baseURL }) => {
  const page = await openForage(context);
  const before = { sources: await sources(page), labels: await labels(page) };
  const unchanged = async () => {
    expect(await sources(page)).toEqual(before.sources);
    expect(await labels(page)).toEqual(before.labels);
  };

  await page.fill('#source-url', 'not a feed url');
  await page.click('#add-source button');
  await expect(page.locator('#source-message.error')).toHaveText('url: "not a feed url" is not a URL (expected https://…)');
  await unchanged();

  // A page that is not a feed (the test server answers unknown paths with Forage's own HTML page).
  await page.fill('#source-url', `${baseURL}/index.html`);
  await page.click('#add-source button');
  await expect(page.locator('#source-message.error')).toHaveText('not a feed: the document is an HTML page');
  await unchanged();

  await page.setInputFiles('#file', {
    name: 'broken.opml',
    mimeType: 'text/x-opml',
    buffer: Buffer.from('<?xml version="1.0"?><opml version="2.0"><body><outline text="x"'),
  });
  await expect(page.locator('#source-message.error')).toContainText('broken.opml: not an OPML file');
  await unchanged();

  await page.fill('#label-name', '   ');
  await page.click('#add-label button');
  await expect(page.locator('#label-message.error')).toHaveText('label.name must not be empty');
  await unchanged();

  // Through the client, the same handlers refuse with a TidalError code and the field's name.
  const refusals = await page.evaluate(async () => {
    const attempt = async (run: () => Promise<unknown>) => {
      try {
        await run();
        return 'accepted';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    };
    const forage = window.forage;
    return [
      await attempt(() => forage.signal('no-such-item', 'like', { slateId: 'no-such-slate' })),
      await attempt(() => forage.signal('x', 'love' as 'like', { slateId: 'x' })),
      await attempt(() => forage.createLabel('x'.repeat(81))),
      await attempt(() => forage.removeSource('feed-0000000000000000')),
      await attempt(() => forage.request({ op: 'nope' } as never)),
    ];
  });
  expect(refusals).toEqual([
    'InvalidArgument: InvalidArgument: slateId names no recorded slate ("no-such-slate")',
    'InvalidArgument: InvalidArgument: kind must be one of click, like, dismiss, not "love"',
    'InvalidArgument: InvalidArgument: label.name must be at most 80 characters',
    'InvalidArgument: InvalidArgument: sourceId names no source of yours ("feed-0000000000000000")',
    expect.stringMatching(/^InvalidArgument: InvalidArgument: op must name an operation \(view, nextSlate, .*\), not "nope"$/),
  ]);
  await unchanged();
  expect(await page.evaluate(() => window.forage.exportSignals())).toBe('');
});
