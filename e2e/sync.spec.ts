import { expect, test, type Page } from '@playwright/test';
import { startCeph, type CephCluster } from '../scripts/ceph.mjs';
import { generateUserKey } from '../src/sync/sync-key.js';
import type { TidalSyncStats } from '../src/index.js';
import { device, everything, openTab, syncOptions } from './sync-devices.js';

// Devices of one user syncing through Ceph's RADOS Gateway (one monitor, one OSD, one gateway,
// started for this file on loopback and stopped after it). A device is a browser context: its own
// OPFS, its own localStorage (so its own sync device id), its own tabs.

let cluster: CephCluster;
let key: string;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  cluster = await startCeph({ nodes: 1 });
  key = generateUserKey();
});

test.afterAll(async () => {
  await cluster?.stop();
});

const syncNow = (page: Page): Promise<TidalSyncStats> => page.evaluate(() => window.tidal.sync!.now());

test('two devices edit offline, sync, and hold equal state, in a second tab of each too; a third device joining later gets everything', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const name = `sync-${Date.now()}`;
  const laptop = await device(browser, syncOptions(cluster, key));
  const phone = await device(browser, syncOptions(cluster, key));
  const a = await openTab(laptop, name);
  const b = await openTab(phone, name);

  // Offline (no sync yet): edits on both.
  await a.evaluate(async () => {
    const db = window.tidal;
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push(db.increment(`item:${i % 10}`, 'click'));
    writes.push(db.set('item:1', 'title', 'written on the laptop'));
    writes.push(db.add('item:2', 'labels', 'laptop'));
    await Promise.all(writes);
  });
  await b.evaluate(async () => {
    const db = window.tidal;
    const writes = [];
    for (let i = 0; i < 30; i++) writes.push(db.increment(`item:${i % 10}`, 'click', 2));
    writes.push(db.add('item:2', 'labels', 'phone'));
    writes.push(db.set('item:20', 'title', 'only on the phone'));
    await Promise.all(writes);
  });
  expect(await a.evaluate(() => window.tidal.get('item:20'))).toBeUndefined();

  // Sync: each uploads its own, then pulls the other's.
  const first = await syncNow(a);
  expect(first.objectsUp).toBeGreaterThan(0);
  expect(first.pendingLsns).toBe(0);
  await syncNow(b);
  await syncNow(a);
  const onA = await everything(a);
  const onB = await everything(b);
  expect(onA).toEqual(onB);
  expect(onA.find((r) => r.key === 'item:0')?.entity.counters).toEqual({ click: 5 + 6 });
  expect([...(onA.find((r) => r.key === 'item:2')?.entity.sets['labels'] ?? [])].sort()).toEqual(['laptop', 'phone']);
  expect(onA.find((r) => r.key === 'item:20')?.entity.fields).toEqual({ title: 'only on the phone' });

  // Merged operations went into each device's log, so every tab of it has them.
  const a2 = await openTab(laptop, name);
  const b2 = await openTab(phone, name);
  await expect.poll(() => everything(a2), { timeout: 20_000 }).toEqual(onA);
  await expect.poll(() => everything(b2), { timeout: 20_000 }).toEqual(onA);

  // A sync again moves nothing: requests follow the change, and there is none.
  const before = await syncNow(b);
  const after = await syncNow(b);
  expect(after.objectsUp).toBe(before.objectsUp);
  expect(after.objectsDown).toBe(before.objectsDown);

  // A third device, joining later, with background sync on: it gets everything, without a call.
  const tablet = await device(browser, syncOptions(cluster, key, { auto: true, intervalMs: 500 }));
  const c = await openTab(tablet, name);
  await expect.poll(() => everything(c), { timeout: 30_000 }).toEqual(onA);
  const stats = await c.evaluate(() => window.tidal.sync!.stats());
  expect(stats.lastSyncAt).toBeGreaterThan(0);
  expect(stats.objectsDown).toBeGreaterThan(0);

  // Its own write reaches the others.
  await c.evaluate(() => window.tidal.increment('item:0', 'click', 100));
  await expect
    .poll(
      async () => {
        await syncNow(a);
        return (await a.evaluate(() => window.tidal.get('item:0')))?.counters['click'];
      },
      { timeout: 30_000 },
    )
    .toBe(111);
  for (const context of [laptop, phone, tablet]) await context.close();
});

test("a device joining after a long history starts from the others' snapshots: it reads the state, not the history", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const name = `late-${Date.now()}`;
  const small = { snapshotMinBytes: 4096 };
  const laptop = await device(browser, syncOptions(cluster, key, small));
  const phone = await device(browser, syncOptions(cluster, key, small));
  const a = await openTab(laptop, name);
  const b = await openTab(phone, name);
  for (let round = 0; round < 12; round++) {
    await a.evaluate(async (r) => {
      const writes = [];
      for (let i = 0; i < 200; i++) writes.push(window.tidal.increment(`item:${i % 20}`, 'click'));
      writes.push(window.tidal.set('item:0', 'title', `laptop ${r}`));
      await Promise.all(writes);
    }, round);
    await b.evaluate(() => window.tidal.add('item:1', 'labels', `phone-${Math.random()}`));
    await syncNow(a);
    await syncNow(b);
  }
  const history = (await syncNow(a)).bytesUp + (await syncNow(b)).bytesUp;
  const onA = await everything(a);
  expect(await everything(b)).toEqual(onA);

  const tablet = await device(browser, syncOptions(cluster, key, small));
  const c = await openTab(tablet, name);
  const joined = await syncNow(c);
  expect(await everything(c)).toEqual(onA);
  expect(onA.find((r) => r.key === 'item:3')?.entity.counters).toEqual({ click: 120 });
  const merged = joined.shards.reduce((n, s) => n + (s.led ? s.snapshotsMerged : 0), 0);
  expect(merged).toBeGreaterThan(0);
  expect(joined.bytesDown).toBeLessThan(history / 3);
  // A second tab of the joiner has it too (the snapshot's merge is in the log), and a reload replays it.
  const c2 = await openTab(tablet, name);
  await expect.poll(() => everything(c2), { timeout: 20_000 }).toEqual(onA);
  await c.reload();
  await c.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  expect(await everything(c)).toEqual(onA);
  for (const context of [laptop, phone, tablet]) await context.close();
});

test('what a sync panel shows: pending writes, the last error while the store is out of reach, then the last sync', async ({ browser }) => {
  test.setTimeout(90_000);
  const name = `panel-${Date.now()}`;
  const offline = await device(browser, syncOptions(cluster, key, { endpoints: ['http://127.0.0.1:9'], timeoutMs: 500 }));
  const a = await openTab(offline, name);
  // Two writes awaited one after the other: two LSNs whether the keys share a shard or not (writes of
  // one tick to one shard travel as one write, one LSN).
  await a.evaluate(async () => {
    await window.tidal.increment('item:1', 'click');
    await window.tidal.increment('item:2', 'click');
  });
  const before = await a.evaluate(() => window.tidal.sync!.stats());
  expect(before).toMatchObject({ pendingLsns: 2, lastSyncAt: undefined, lastError: undefined });
  expect(
    await a.evaluate(() =>
      window.tidal.sync!.now().then(
        () => 'synced',
        (e: { code?: string }) => e.code,
      ),
    ),
  ).toBe('Unreachable');
  const failed = await a.evaluate(() => window.tidal.sync!.stats());
  expect(failed.lastError?.code).toBe('Unreachable');
  expect(failed).toMatchObject({ pendingLsns: 2, lastSyncAt: undefined, objectsUp: 0 });
  await offline.close();
});

test('a page reloaded mid-way resumes: nothing lost, nothing counted twice', async ({ browser }) => {
  test.setTimeout(90_000);
  const name = `resume-${Date.now()}`;
  const laptop = await device(browser, syncOptions(cluster, key));
  const phone = await device(browser, syncOptions(cluster, key));
  const a = await openTab(laptop, name);
  await a.evaluate(async () => {
    const writes = [];
    for (let i = 0; i < 200; i++) writes.push(window.tidal.increment(`k:${i % 7}`, 'n'));
    await Promise.all(writes);
  });
  await syncNow(a);
  const b = await openTab(phone, name);
  await syncNow(b);
  await b.reload();
  await b.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  await syncNow(b); // after the reload: the cursors came back from the log
  const total = (rows: { entity: { counters: Record<string, number> } }[]) => rows.reduce((n, r) => n + (r.entity.counters['n'] ?? 0), 0);
  expect(total(await everything(b))).toBe(200);
  expect(await everything(b)).toEqual(await everything(a));
  for (const context of [laptop, phone]) await context.close();
});
