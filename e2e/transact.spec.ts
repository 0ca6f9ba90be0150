import { expect, test, type BrowserContext, type Page } from '@playwright/test';

// db.transact and merged per-call writes, end to end: two tabs of one browser context on the
// e2e database page (window.tidal), OPFS, durable.

async function openTab(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(`/e2e/pages/db.html?name=${name}&shards=4`);
  await page.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  return page;
}

test('a transaction is written with one promise, one event per shard, and read whole in another tab', async ({ context }) => {
  const name = `transact-${Date.now()}`;
  const a = await openTab(context, name);
  const b = await openTab(context, name);
  const result = await a.evaluate(async () => {
    const before = (await window.tidal.stats()).shards.map((s) => s.lsn);
    const { tokens, operations } = await window.tidal.transact((tx) => {
      for (let i = 0; i < 2000; i++) tx.increment(`item-${i % 500}`, 'click');
      for (let i = 0; i < 500; i++) tx.set(`item-${i}`, 'label', i % 2 === 0 ? 'even' : 'odd');
      tx.add('item-0', 'tags', 'first');
    });
    const after = (await window.tidal.stats()).shards.map((s) => s.lsn);
    return { tokens, operations, events: after.map((lsn, i) => lsn - before[i]!) };
  });
  expect(result.operations).toBe(2501);
  expect(result.tokens.map((t) => t.shard)).toEqual([0, 1, 2, 3]);
  expect(result.events).toEqual([1, 1, 1, 1]); // each shard's part is one write event
  // The other tab reads every operation, after the tokens.
  const read = await b.evaluate(async (tokens) => {
    for (const token of tokens) await window.tidal.get(`probe-${token.shard}`, { after: token }).catch(() => undefined);
    const rows = await window.tidal.scan('item-', { limit: 1000, after: tokens[0] });
    return {
      rows: rows.length,
      clicks: rows.reduce((n, r) => n + Number(r.entity.counters['click']), 0),
      odd: rows.filter((r) => r.entity.fields['label'] === 'odd').length,
      tags: rows.find((r) => r.key === 'item-0')?.entity.sets['tags'],
    };
  }, result.tokens);
  expect(read).toEqual({ rows: 500, clicks: 2000, odd: 250, tags: ['first'] });
});

test('a transaction with a bad operation sends nothing; per-call writes of one tick travel as one write per shard', async ({ context }) => {
  const name = `transact-bad-${Date.now()}`;
  const a = await openTab(context, name);
  const outcome = await a.evaluate(async () => {
    const before = (await window.tidal.stats()).shards.map((s) => s.lsn);
    const refused = await window.tidal
      .transact((tx) => {
        tx.increment('item-1', 'click');
        tx.increment('item-2', 'click', -1); // not a positive integer
      })
      .then(
        () => 'written',
        (error: { code?: string }) => error.code,
      );
    const async = await window.tidal.transact((async () => undefined) as never).then(
      () => 'written',
      (error: { code?: string }) => error.code,
    );
    const unchanged = (await window.tidal.stats()).shards.map((s) => s.lsn);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => window.tidal.increment(`item-${i}`, 'view')));
    const after = (await window.tidal.stats()).shards.map((s) => s.lsn);
    const total = (await window.tidal.scan('item-', { limit: 2000 })).reduce((n, r) => n + Number(r.entity.counters['view'] ?? 0), 0);
    return { refused, async, same: unchanged.join() === before.join(), events: after.map((lsn, i) => lsn - unchanged[i]!), total };
  });
  expect(outcome.refused).toBe('InvalidArgument');
  expect(outcome.async).toBe('InvalidArgument');
  expect(outcome.same).toBe(true);
  expect(outcome.events).toEqual([1, 1, 1, 1]);
  expect(outcome.total).toBe(1000);
});

test('a shard part over 8 MiB is split by its bytes before it is numbered, and every write of it commits', async ({ context }) => {
  const name = `transact-big-${Date.now()}`;
  const a = await openTab(context, name);
  const outcome = await a.evaluate(async () => {
    const before = (await window.tidal.stats()).shards.map((s) => s.lsn);
    // Ten values of 1,000,000 bytes on one key (so one shard): about 9.5 MiB, over the 8 MiB a write may take.
    const result = await window.tidal
      .transact((tx) => {
        for (let i = 0; i < 10; i++) tx.set('big', `part-${i}`, String(i).repeat(1_000_000));
      })
      .then(
        (r) => ({ operations: r.operations, shards: r.tokens.map((t) => t.shard) }),
        (error: { code?: string; message?: string }) => ({ error: `${error.code}: ${error.message}` }),
      );
    const after = (await window.tidal.stats()).shards.map((s) => s.lsn);
    const entity = await window.tidal.get('big');
    const lengths = Object.values(entity?.fields ?? {}).map((v) => (v as string).length);
    return { result, events: after.reduce((n, lsn, i) => n + lsn - before[i]!, 0), lengths };
  });
  expect(outcome.result).toEqual({ operations: 10, shards: [expect.any(Number)] });
  expect(outcome.events).toBe(2); // two writes of that shard's part: the first up to 8 MiB, the rest
  expect(outcome.lengths).toEqual(new Array(10).fill(1_000_000));
});
