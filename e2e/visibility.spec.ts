import { randomBytes } from 'node:crypto';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import type { Change, TidalStats, WriteToken } from '../src/index.js';

// What a reader sees, in real tabs, across the events that change where the
// data comes from: a snapshot and the compaction of the log below it (a tab
// that joins afterwards is brought up to date by the leader's snapshot over
// BroadcastChannel), a reload, and a change of leader.

async function openTab(context: BrowserContext, name: string, shards = 2): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(`/e2e/pages/db.html?name=${name}&shards=${shards}&leaderTimeoutMs=3000`);
  await page.waitForFunction(() => window.tidal !== undefined || window.tidalError !== undefined, null, { timeout: 30_000 });
  expect(await page.evaluate(() => window.tidalError)).toBeUndefined();
  return page;
}

const stats = (page: Page): Promise<TidalStats> => page.evaluate(() => window.tidal.stats());
const dbName = () => `vis-${randomBytes(4).toString('hex')}`;

/** Writes `rounds` transactions of 100 fields of ~8 KB each (about 0.8 MB of log a round) and counters; the last token per shard. */
async function writeBulk(page: Page, rounds: number, tag: string): Promise<WriteToken[]> {
  return page.evaluate(
    async ([rounds, tag]) => {
      const db = window.tidal;
      // Random text: the log must hold its bytes (repeated text would be no test of segment rolling).
      const filler = () => Array.from(crypto.getRandomValues(new Uint8Array(4000)), (b) => b.toString(16).padStart(2, '0')).join('');
      const last: WriteToken[] = [];
      for (let r = 0; r < rounds; r++) {
        const result = await db.transact((tx) => {
          for (let i = 0; i < 100; i++) {
            // Rounds numbered in two digits: the state must not shrink from one snapshot to the next (an older
            // snapshot larger than the newest is deleted at once, for the storage bound, and its fallback with it).
            tx.set(`doc:${i}`, 'body', `${tag}-${String(r).padStart(2, '0')}-${filler()}`);
            tx.increment(`doc:${i}`, 'edits');
          }
        });
        for (const token of result.tokens) last[token.shard] = token;
      }
      return last;
    },
    [rounds, tag] as const,
  );
}

/** Every `doc:` entity as this tab reads it, once its replicas applied `after` (read-your-writes). */
const readAll = (page: Page, after?: WriteToken) =>
  page.evaluate((after) => window.tidal.scan('doc:', { limit: 1000, ...(after ? { after } : {}) }), after);

test('read-your-writes across tabs and across a snapshot and compaction; a tab that joins later gets the snapshot and reads the same', async ({
  context,
}) => {
  test.setTimeout(120_000);
  const name = dbName();
  const a = await openTab(context, name);
  // Enough log for sealed segments (4 MiB) below the older of two snapshots.
  await writeBulk(a, 12, 'one');
  const first = await a.evaluate(() => Promise.all([0, 1].map((s) => window.tidal.debug!.snapshotNow(s))));
  await writeBulk(a, 2, 'two');
  const second = await a.evaluate(() => Promise.all([0, 1].map((s) => window.tidal.debug!.snapshotNow(s))));
  for (const [shard, taken] of second.entries()) {
    expect(taken.snapshotLsn).toBeGreaterThan(first[shard]!.snapshotLsn);
    // The log below the older snapshot is gone, and never compacted past what it and the log after it need.
    expect(taken.firstLsn).toBeGreaterThan(1);
    expect(taken.firstLsn).toBeLessThanOrEqual(first[shard]!.snapshotLsn + 1);
  }
  const tokens = await writeBulk(a, 1, 'three');
  const leaderStats = await stats(a);
  for (const shard of leaderStats.shards) {
    expect(shard.snapshotLsn).toBe(second[shard.shard]!.snapshotLsn);
    expect(shard.snapshotBytes).toBeGreaterThan(0);
    expect(shard.logBytes).toBeGreaterThan(0);
  }

  // Tab B opens after the compaction: the log alone cannot bring it up to date.
  const b = await openTab(context, name);
  // Read-your-writes on B with A's token of each shard: B's replicas wait until they applied it.
  for (const token of tokens) {
    const rows = await readAll(b, token);
    const onShard = rows.filter((row) => row.entity.fields['body'] !== undefined);
    expect(onShard.length).toBe(100);
  }
  const expected = await readAll(a);
  for (const { entity } of expected) expect(String(entity.fields['body'])).toMatch(/^three-00-/);
  await expect
    .poll(async () => (await stats(b)).shards.map((s) => s.appliedLsn), { timeout: 30_000 })
    .toEqual(leaderStats.shards.map((s) => s.lsn));
  expect(await readAll(b)).toEqual(expected);
  for (const { entity } of expected) expect(entity).toMatchObject({ counters: { edits: 15 } });

  // B's own writes (forwarded to A's leaders) are read back at once in B and, with B's token, in A.
  const own = await b.evaluate(() => window.tidal.set('doc:7', 'note', 'from B'));
  expect(await b.evaluate(() => window.tidal.get('doc:7'))).toMatchObject({ fields: { note: 'from B' } });
  expect(await a.evaluate((token) => window.tidal.get('doc:7', { after: token }), own)).toMatchObject({ fields: { note: 'from B' } });
  expect((await stats(b)).shards.every((s) => s.payloadsRejected === 0)).toBe(true);
});

test('monotonic reads across a reload: a reloaded follower tab never reads older than it read before', async ({ context }) => {
  test.setTimeout(90_000);
  const name = dbName();
  const a = await openTab(context, name, 1);
  const b = await openTab(context, name, 1);
  const token = await a.evaluate(async () => {
    let last;
    for (let i = 1; i <= 50; i++) last = await window.tidal.increment('hits', 'n');
    return last!;
  });
  await a.evaluate(() => window.tidal.debug!.snapshotNow(0));
  const before = await b.evaluate((token) => window.tidal.get('hits', { after: token }), token);
  expect(before).toMatchObject({ counters: { n: 50 } });
  await b.reload();
  await b.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  // Straight after the reload, without a token: the tab's reads start no earlier than what it saw.
  const after = await b.evaluate(() => window.tidal.get('hits'));
  expect(after).toMatchObject({ counters: { n: 50 } });
});

test('a subscription sees every change of a key, in LSN order, across a leader change', async ({ context }) => {
  test.setTimeout(90_000);
  const name = dbName();
  const a = await openTab(context, name, 1);
  const b = await openTab(context, name, 1);
  await b.evaluate(() => {
    const seen: Change[] = [];
    (window as unknown as { seen: Change[] }).seen = seen;
    window.tidal.subscribe('counter', (change) => seen.push(change));
  });
  const fromA = await a.evaluate(async () => {
    const tokens = [];
    for (let i = 0; i < 30; i++) tokens.push(await window.tidal.increment('counter', 'n'));
    return tokens;
  });
  // A closes: B takes the lead of the shard and goes on writing.
  await a.close();
  await expect.poll(async () => (await stats(b)).shards[0]!.role, { timeout: 30_000 }).toBe('leader');
  const fromB = await b.evaluate(async () => {
    const tokens = [];
    for (let i = 0; i < 30; i++) tokens.push(await window.tidal.increment('counter', 'n'));
    return tokens;
  });
  const lsns = [...fromA, ...fromB].map((t) => t.lsn);
  await expect
    .poll(() => b.evaluate(() => (window as unknown as { seen: Change[] }).seen.at(-1)?.entity?.counters['n']), { timeout: 20_000 })
    .toBe(60);
  const seen = await b.evaluate(() =>
    (window as unknown as { seen: Change[] }).seen.map((c) => ({ lsn: c.lsn, n: c.entity?.counters['n'] })),
  );
  // In LSN order, never going back, and ending at the last write; every write's LSN was seen or folded into a later change of the same tick.
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.lsn).toBeGreaterThan(seen[i - 1]!.lsn);
  expect(seen.at(-1)).toEqual({ lsn: lsns.at(-1), n: 60 });
  for (const change of seen) expect(change.n).toBe(lsns.filter((l) => l <= change.lsn).length);
});
