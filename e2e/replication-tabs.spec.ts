// Replication across two tabs of one browser context over BroadcastChannel:
// tab A hosts the shard's leader (a worker, its WAL on OPFS), tab B a
// follower (a worker, its own OPFS folder: tabs share the origin's OPFS,
// and sync access handles are exclusive). A corrupt payload injected in
// flight on the leader's side is rejected, counted and healed; a follower
// tab that closes and comes back resumes from its own copy of the log.
import { randomBytes } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import type { FollowerStats, LeaderStats } from '../src/replication/testing/replica.worker.js';
import type { TabReplicaOptions } from './pages/replication-tab.js'; // also declares window.tidalReplicaTab

const SHARD = 0;
const A = { shard: SHARD, replica: 'A' };
const B = { shard: SHARD, replica: 'B' };

/** Opens the replica page and waits for its API; collects the page's uncaught errors. */
async function openTab(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    // The browser's own request for /favicon.ico (there is none) is not the page's error.
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) errors.push(message.text());
  });
  await page.goto('/e2e/pages/replication-tab.html');
  await page.waitForFunction(() => 'tidalReplicaTab' in window);
  return errors;
}

function setup(): { leader: TabReplicaOptions; follower: TabReplicaOptions } {
  const run = randomBytes(6).toString('hex');
  const channel = `tidal:e2e-${run}:replication`;
  const folder = ['tidal-e2e', `replication-${run}`];
  return {
    leader: { channel, folder: [...folder, 'A'], shard: SHARD, local: A, remote: B },
    follower: { channel, folder: [...folder, 'B'], shard: SHARD, local: B, remote: A },
  };
}

const append = (tab: Page, count: number, perBatch: number) =>
  tab.evaluate(([c, p]) => window.tidalReplicaTab.append(c, p), [count, perBatch] as const);
const whenApplied = (tab: Page, lsn: number) => tab.evaluate((l) => window.tidalReplicaTab.whenApplied(l, 30_000), lsn);
const leaderStats = async (tab: Page) => (await tab.evaluate(() => window.tidalReplicaTab.stats())) as LeaderStats;
const followerStats = async (tab: Page) => (await tab.evaluate(() => window.tidalReplicaTab.stats())) as FollowerStats;

/** The follower tab holds exactly the leader tab's events and applied each once, in order. */
async function expectSameState(leaderTab: Page, followerTab: Page, lastLsn: number): Promise<void> {
  const [expected, actual] = await Promise.all([
    leaderTab.evaluate(() => window.tidalReplicaTab.state()),
    followerTab.evaluate(() => window.tidalReplicaTab.state()),
  ]);
  expect(expected).toMatchObject({ entries: lastLsn, lastLsn, dense: true });
  expect(actual).toEqual(expected);
  const stats = await followerStats(followerTab);
  expect(stats.violations).toEqual([]);
  expect(stats.failed).toBeUndefined();
}

test('a follower in tab B applies tab A’s log over BroadcastChannel; a corrupt payload in flight is rejected, counted and healed', async ({
  page: tabA,
  context,
}) => {
  const options = setup();
  const tabB = await context.newPage();
  const errors = [...(await openTab(tabA)), ...(await openTab(tabB))];

  await tabA.evaluate((o) => window.tidalReplicaTab.startLeader(o), options.leader);
  await tabB.evaluate((o) => window.tidalReplicaTab.startFollower(o), options.follower);
  expect(await append(tabA, 2000, 20)).toEqual({ first: 1, last: 2000 });
  await whenApplied(tabB, 2000);
  await expectSameState(tabA, tabB, 2000);
  const clean = await followerStats(tabB);
  expect(clean.counters).toMatchObject({ payloadsRejected: 0, eventsApplied: 2000 });
  expect(clean.transport.malformed).toBe(0);

  // One byte of the next payload flipped on its way from tab A to tab B.
  const resendsBefore = (await leaderStats(tabA)).shipper.followers[0]!.resends;
  await tabA.evaluate(() => window.tidalReplicaTab.injectNext('flip'));
  await append(tabA, 500, 10);
  await whenApplied(tabB, 2500);
  const healed = await followerStats(tabB);
  expect(healed.counters.payloadsRejected).toBe(1);
  expect(healed.counters.requests).toBeGreaterThan(clean.counters.requests); // it asked for the payload again
  const leader = await leaderStats(tabA);
  expect(leader.faults.flip).toBe(1);
  expect(leader.shipper.followers[0]!.resends).toBeGreaterThan(resendsBefore); // and the leader sent it again
  await expectSameState(tabA, tabB, 2500);
  expect(errors).toEqual([]);

  await tabB.evaluate(() => window.tidalReplicaTab.stop());
  await tabA.evaluate(() => window.tidalReplicaTab.stop());
});

test('a follower tab that closes and comes back resumes from its own copy of the log', async ({ page: tabA, context }) => {
  const options = setup();
  let tabB = await context.newPage();
  const errors = [...(await openTab(tabA)), ...(await openTab(tabB))];

  await tabA.evaluate((o) => window.tidalReplicaTab.startLeader(o), options.leader);
  await tabB.evaluate((o) => window.tidalReplicaTab.startFollower(o), options.follower);
  await append(tabA, 1000, 10);
  await whenApplied(tabB, 1000);
  await tabB.close(); // its worker dies with it, and the OPFS handles with the worker

  await append(tabA, 1000, 10); // shipped to nobody: tab B is gone
  tabB = await context.newPage();
  errors.push(...(await openTab(tabB)));
  // The closed tab's worker releases its sync access handles asynchronously: retry the open briefly.
  await expect
    .poll(
      () =>
        tabB.evaluate(
          (o) =>
            window.tidalReplicaTab.startFollower(o).then(
              (r) => r.appliedLsn,
              (e: unknown) => String(e),
            ),
          options.follower,
        ),
      { timeout: 10_000 },
    )
    .toBe(1000); // replayed from its own log
  await whenApplied(tabB, 2000);
  const stats = await followerStats(tabB);
  expect(stats.counters.eventsApplied).toBe(1000); // only what it missed came over the channel
  await expectSameState(tabA, tabB, 2000);
  expect(errors).toEqual([]);

  await tabB.evaluate(() => window.tidalReplicaTab.stop());
  await tabA.evaluate(() => window.tidalReplicaTab.stop());
});
