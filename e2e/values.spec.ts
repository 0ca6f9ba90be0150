import { expect, test, type BrowserContext, type Page } from '@playwright/test';

// Issue 9, Values: arbitrary keys, fields and values (NaN, ±Infinity, -0, 2^52 counters, a BOM,
// lone surrogates, big nested objects, bigints, bytes...) through the public API, across two tabs
// and a reload: every write either resolves and reads back equal in both tabs and after the reload,
// or rejects with the TidalError code it must have and changes nothing. Seeded: a failure names
// the seed and the write; the same seed replays it.
const SEED = Number(process.env['TIDAL_VALUES_SEED'] ?? 0x7a1d);
const RUNS = 25; // samples of 1..8 writes each, per tab

async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`/e2e/pages/values.html?name=${name}`);
  await page.evaluate(async () => void (await window.values.ready));
  return page;
}

test('every value either reads back equal in both tabs and after a reload, or is refused with its code', async ({ context }) => {
  test.setTimeout(120_000);
  const name = `values-${Date.now()}`;
  const a = await openTab(context, name);
  const b = await openTab(context, name);
  const [fromA, fromB] = await Promise.all([
    a.evaluate(([seed, runs]) => window.values.runWrites(seed, runs, 'a:'), [SEED, RUNS] as const),
    b.evaluate(([seed, runs]) => window.values.runWrites(seed, runs, 'b:'), [SEED + 1, RUNS] as const),
  ]);
  expect(fromA.some((o) => o.ok) && fromA.some((o) => !o.ok), 'the plan has accepted and refused writes').toBe(true);
  const checkAll = async (page: Page) => [
    ...(await page.evaluate(([seed, runs, o]) => window.values.check(seed, runs, 'a:', o), [SEED, RUNS, fromA] as const)),
    ...(await page.evaluate(([seed, runs, o]) => window.values.check(seed, runs, 'b:', o), [SEED + 1, RUNS, fromB] as const)),
  ];
  expect(await checkAll(a), `seed ${SEED}, tab a`).toEqual([]);
  expect(await checkAll(b), `seed ${SEED}, tab b`).toEqual([]);
  await a.reload();
  await a.evaluate(async () => void (await window.values.ready));
  expect(await checkAll(a), `seed ${SEED}, tab a after a reload`).toEqual([]);
});
