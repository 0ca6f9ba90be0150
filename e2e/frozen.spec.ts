import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import type { TidalStats } from '../src/index.js';

// A frozen leader tab (issue 9, "The tab next door"). Chromium freezes background tabs: a frozen
// tab runs no task, in its page or in its workers, but keeps what it holds: its Web Locks until
// another tab steals them, and its workers' OPFS sync access handles, which nothing can take.
//
// What this simulates, and how: headless Chromium does not freeze a visible page
// (`Page.setWebLifecycleState` 'frozen' is accepted and changes nothing: its timers and its
// workers' run on, measured), so the freeze is made by hand. Every shard worker of the leader tab
// busy-loops (`debug.hangWorker`) and so does its main thread, for FREEZE_MS: nothing of the tab
// runs (no announcement, no liveness check, no answer, no lock release, no worker restart), and its
// log's handles stay open, which is what a frozen tab does. (A frozen tab burns no CPU; this one does.)
//
// The fence under test (docs/ARCHITECTURE.md, "Failure cases"): the other tab takes the locks once
// the leader has been silent for leaderTimeoutMs (a newer term), but it can open the log only when
// the frozen tab has let go of its exclusive handles, after it woke and heard it lost the lead. So
// no write is acknowledged against a second log: the woken tab's late acknowledgements are of
// writes in the one log, which the new leader then recovers. What this costs is the bound: the
// other tabs' writes wait (resent, none lost) while the leader tab is frozen, and go through
// shortly after it wakes.

const DB = 'frozen';
const SHARDS = 2;
const LEADER_TIMEOUT_MS = 1500;
const FREEZE_MS = 8000;
const TAB = `/e2e/pages/db.html?name=${DB}&shards=${SHARDS}&leaderTimeoutMs=${LEADER_TIMEOUT_MS}`;
const KEYS = 8;

async function openTab(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(TAB);
  await page.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  return page;
}

const stats = (page: Page): Promise<TidalStats> => page.evaluate(() => window.tidal.stats());
const roles = async (page: Page): Promise<string[]> => (await stats(page)).shards.map((s) => s.role);

declare global {
  interface Window {
    /** The outcomes of the writes a tab had in flight when it froze. */
    inFlightAtFreeze?: Promise<string[]>;
  }
}

test('a frozen leader tab that wakes after another tab took its locks acknowledges nothing against a second log; the other tab leads, nothing lost, nothing applied twice', async ({
  context,
}) => {
  test.setTimeout(120_000);
  const a = await openTab(context);
  await expect.poll(() => roles(a), { timeout: 30_000 }).toEqual(['leader', 'leader']);
  const b = await openTab(context);
  await expect.poll(() => roles(b), { timeout: 30_000 }).toEqual(['follower', 'follower']);
  // Some history first, from both tabs (B's forwarded to A).
  for (const page of [a, b]) {
    await page.evaluate((keys) => Promise.all(Array.from({ length: 16 }, (_, i) => window.tidal.increment(`f:${i % keys}`, 'n'))), KEYS);
  }
  const before = await stats(a);

  // A freezes with 20 writes in flight (half with idempotency keys), sent in the same task.
  const wokeAt = await a.evaluate(
    ({ ms, keys, shards }) => {
      window.inFlightAtFreeze = Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          window.tidal.increment(`f:${i % keys}`, 'n', 1, i % 2 === 0 ? { idempotencyKey: `a-${i}` } : undefined),
        ),
      ).then((outcomes) => outcomes.map((o) => (o.status === 'fulfilled' ? 'acked' : String((o.reason as { code?: string }).code))));
      // `until` first: each worker starts its `ms` of hanging after this, so nothing of A runs before `until`.
      const until = Date.now() + ms;
      for (let shard = 0; shard < shards; shard++) window.tidal.debug!.hangWorker(shard, ms);
      setTimeout(() => {
        while (Date.now() < until) {
          // frozen: the tab's main thread runs nothing else
        }
      }, 0);
      return until;
    },
    { ms: FREEZE_MS, keys: KEYS, shards: SHARDS },
  );

  // Meanwhile B writes 30 increments (half keyed) and notes when each is acknowledged.
  const acks = b.evaluate(
    (keys) =>
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          window.tidal.increment(`f:${i % keys}`, 'n', 1, i % 2 === 1 ? { idempotencyKey: `b-${i}` } : undefined).then(() => Date.now()),
        ),
      ),
    KEYS,
  );
  // While A is frozen B takes the locks (A has been silent past leaderTimeoutMs), but cannot open
  // the log A still holds: it leads nothing while A is frozen.
  const seen = new Set<string>();
  while (Date.now() < wokeAt - 500) {
    for (const role of await roles(b)) seen.add(role);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect([...seen]).not.toContain('leader');

  const ackedAt = await acks;
  const firstAck = Math.min(...ackedAt);
  // The fence: no write of B was acknowledged while A held the log (each is in the one log A wrote).
  expect(firstAck).toBeGreaterThanOrEqual(wokeAt);
  console.log(
    `frozen leader: B's first acknowledgement ${firstAck - wokeAt} ms after A woke, its last ${Math.max(...ackedAt) - wokeAt} ms after (freeze ${FREEZE_MS} ms)`,
  );
  // A's writes in flight at the freeze were acknowledged too, after it woke (or resent to B).
  expect(await a.evaluate(() => window.inFlightAtFreeze!)).toEqual(Array(20).fill('acked'));

  // B leads both shards now (its lock grants are the newer terms); A follows it.
  await expect.poll(() => roles(b), { timeout: 30_000 }).toEqual(['leader', 'leader']);
  await expect.poll(() => roles(a), { timeout: 30_000 }).toEqual(['follower', 'follower']);
  // A writes on, through B.
  await a.evaluate((keys) => Promise.all(Array.from({ length: 8 }, (_, i) => window.tidal.increment(`f:${i % keys}`, 'n'))), KEYS);

  // Every write exactly once, in both tabs: 16 + 16 before, 20 + 30 around the freeze, 8 after, each to f:<i % KEYS>.
  const expected = Array.from({ length: KEYS }, (_, k) => ({
    key: `f:${k}`,
    n: [16, 16, 20, 30, 8].reduce((sum, count) => sum + Math.ceil((count - k) / KEYS), 0),
  }));
  const counts = (page: Page) =>
    page.evaluate(async () =>
      (await window.tidal.scan('f:', { limit: 100 })).map((row) => ({ key: row.key, n: row.entity.counters['n'] ?? 0 })),
    );
  const leaderLsns = async () => (await stats(b)).shards.map((s) => s.lsn);
  await expect.poll(async () => (await stats(a)).shards.map((s) => s.appliedLsn), { timeout: 30_000 }).toEqual(await leaderLsns());
  expect(await counts(b)).toEqual(expected);
  expect(await counts(a)).toEqual(expected);
  // The log went on from where A left it: B's LSNs continue past A's.
  const after = await stats(b);
  for (let shard = 0; shard < SHARDS; shard++) expect(after.shards[shard]!.lsn).toBeGreaterThan(before.shards[shard]!.lsn);
});
