import { expect, test, type Page } from '@playwright/test';
import { startCeph, type CephCluster } from '../scripts/ceph.mjs';
import { generateUserKey } from '../src/sync/sync-key.js';
import { device, everything, openTab, syncOptions } from './sync-devices.js';

// Sync through a three-node Ceph cluster (three monitors, three OSDs on three CRUSH hosts, three
// copies with two needed, two gateways), started for this file and stopped after it, while parts
// of the cluster die under it.

let cluster: CephCluster;
let key: string;

test.beforeAll(async () => {
  test.setTimeout(240_000);
  cluster = await startCeph({ nodes: 3 });
  key = generateUserKey();
});

test.afterAll(async () => {
  await cluster?.stop();
});

const write = (page: Page, prefix: string, n: number) =>
  page.evaluate(
    async ({ prefix, n }) => {
      const writes = [];
      for (let i = 0; i < n; i++) writes.push(window.tidal.increment(`${prefix}:${i % 25}`, 'click'));
      await Promise.all(writes);
    },
    { prefix, n },
  );
const total = (rows: { entity: { counters: Record<string, number> } }[]) => rows.reduce((n, r) => n + (r.entity.counters['click'] ?? 0), 0);

test('an OSD killed during sync: the sync completes, and every device gets everything', async ({ browser }) => {
  test.setTimeout(180_000);
  const name = `osd-${Date.now()}`;
  const [laptop, phone] = [await device(browser, syncOptions(cluster, key)), await device(browser, syncOptions(cluster, key))];
  const a = await openTab(laptop, name);
  const b = await openTab(phone, name);
  await write(a, 'a', 500);
  await write(b, 'b', 300);
  const syncing = a.evaluate(() => window.tidal.sync!.now());
  cluster.killOsd(1);
  await syncing; // two copies of three still answer; requests that hit the dead OSD are retried
  await write(a, 'a', 200);
  await a.evaluate(() => window.tidal.sync!.now());
  await b.evaluate(() => window.tidal.sync!.now());
  await a.evaluate(() => window.tidal.sync!.now());
  expect(total(await everything(a))).toBe(1000);
  expect(await everything(b)).toEqual(await everything(a));
  for (const context of [laptop, phone]) await context.close();
});

test('a gateway killed: the client retries through the other', async ({ browser }) => {
  test.setTimeout(120_000);
  const name = `gw-${Date.now()}`;
  const [laptop, phone] = [await device(browser, syncOptions(cluster, key)), await device(browser, syncOptions(cluster, key))];
  const a = await openTab(laptop, name);
  const b = await openTab(phone, name);
  await write(a, 'a', 100);
  await a.evaluate(() => window.tidal.sync!.now()); // through the first gateway
  cluster.killGateway(0);
  await write(a, 'a', 100);
  await write(b, 'b', 100);
  await a.evaluate(() => window.tidal.sync!.now());
  await b.evaluate(() => window.tidal.sync!.now());
  await a.evaluate(() => window.tidal.sync!.now());
  expect(total(await everything(b))).toBe(300);
  expect(await everything(a)).toEqual(await everything(b));
  for (const context of [laptop, phone]) await context.close();
});
