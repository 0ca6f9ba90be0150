import { expect, test, type Page } from '@playwright/test';
import { openForage } from './forage-page.js';

// Concurrent label examples in two real tabs of Forage: both tabs add hard negatives and positives
// to the same label at the same moment. A label's examples are tidal GSets, so every addition of
// both tabs is kept (none lost by the merge, none counted twice), both tabs converge to the same
// label, and the label's ranking (the items that carry it, best first) is the same in both tabs,
// with no hard negative in it; after a reload too.

const labelOf = async (page: Page, labelId: string) => {
  const label = (await page.evaluate(() => window.forage.labels())).find((l) => l.id === labelId);
  return label && { ...label, positives: [...label.positives].sort(), hardNegatives: [...label.hardNegatives].sort() };
};
const rankingOf = (page: Page, labelId: string) => page.evaluate((id) => window.forage.labelRanking(id), labelId);

test('hard negatives and positives added to one label in two tabs at once: all kept, converged, the same ranking in both', async ({
  context,
}) => {
  test.setTimeout(150_000);
  const a = await openForage(context);
  const b = await openForage(context);

  // A label with one positive, a story of the space feed; its ranking holds the stories like it.
  const orbit = (await a.evaluate(() => window.forage.sources())).find((s) => s.title === 'Orbit Notes')!;
  const slate = await a.evaluate((sourceId) => window.forage.nextSlate({ context: { kind: 'source', sourceId }, size: 10 }), orbit.id);
  const [first, second, third] = slate.items.map((i) => i.id) as [string, string, string];
  const label = await a.evaluate(() => window.forage.createLabel('Space'));
  await a.evaluate(({ labelId, itemId }) => window.forage.addPositive(labelId, itemId), { labelId: label.id, itemId: first });
  await expect.poll(async () => (await labelOf(b, label.id))?.positives).toEqual([first]);
  const before = await rankingOf(a, label.id);
  const candidates = before.items.map((i) => i.id).filter((id) => id !== first && id !== second && id !== third);
  expect(candidates.length).toBeGreaterThanOrEqual(4);
  const [n1, n2, n3, n4] = candidates as [string, string, string, string];

  // At once: tab A marks n1 and n2 and adds `second` as a positive; tab B marks n3 and n4 and adds `third`.
  const mark = (page: Page, negatives: string[], positive: string) =>
    page.evaluate(
      ({ labelId, negatives, positive }) =>
        Promise.all([
          ...negatives.map((itemId) => window.forage.addHardNegative(labelId, itemId)),
          window.forage.addPositive(labelId, positive),
        ]),
      { labelId: label.id, negatives, positive },
    );
  await Promise.all([mark(a, [n1, n2], second), mark(b, [n3, n4], third)]);

  // Both tabs end with every example of both, each once.
  const expected = { positives: [first, second, third].sort(), hardNegatives: [n1, n2, n3, n4].sort() };
  for (const page of [a, b]) await expect.poll(async () => await labelOf(page, label.id), { timeout: 20_000 }).toMatchObject(expected);
  expect(await labelOf(a, label.id)).toEqual(await labelOf(b, label.id));

  // The ranking: the same items in the same order in both tabs, and no hard negative carries the label.
  const ranking = await rankingOf(a, label.id);
  expect(await rankingOf(b, label.id)).toEqual(ranking);
  expect(ranking.items.length).toBeGreaterThan(0);
  for (const negative of expected.hardNegatives) expect(ranking.items.map((i) => i.id)).not.toContain(negative);
  const label2 = await labelOf(a, label.id);
  expect(label2!.items).toBe(ranking.items.length);
  // The labels panel of both pages says the same.
  await expect(b.locator(`#labels li[data-label="${label.id}"]`)).toHaveText(
    (await a.locator(`#labels li[data-label="${label.id}"]`).textContent())!,
  );

  // After a reload of B, the same label and ranking.
  await b.reload();
  await b.waitForFunction(() => document.body.dataset['ready'] === 'true');
  expect(await labelOf(b, label.id)).toEqual(await labelOf(a, label.id));
  expect(await rankingOf(b, label.id)).toEqual(ranking);
});
