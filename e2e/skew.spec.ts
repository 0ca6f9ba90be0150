import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { build, type Plugin } from 'vite';

// Version skew, with two builds side by side on one origin: after a deploy, a tab still running the
// older tidal (this build, served by the dev server) shares the database with a tab running a newer
// one. The newer build is built here from these same sources with the protocol version bumped
// (src/worker/protocol.ts), and served on the same origin under /skew-next/. The rule under test
// (docs/ARCHITECTURE.md, "Version skew"): the older tab steps aside and tells its page, keeping every
// write it acknowledged; the newer tab leads.

const NEXT = '/skew-next/';
let nextDir = '';

/** The newer build's one change: src/worker/protocol.ts declares the next protocol version. */
function bumpProtocol(): Plugin {
  return {
    name: 'tidal-next-protocol',
    transform(code, id) {
      if (!id.endsWith('/src/worker/protocol.ts')) return undefined;
      const bumped = code.replace('export const PROTOCOL_VERSION = 1;', 'export const PROTOCOL_VERSION = 2;');
      if (bumped === code) throw new Error('src/worker/protocol.ts no longer declares PROTOCOL_VERSION = 1: update e2e/skew.spec.ts');
      return bumped;
    },
  };
}

test.beforeAll(async () => {
  test.setTimeout(120_000);
  nextDir = mkdtempSync(join(tmpdir(), 'tidal-skew-next-'));
  await build({
    configFile: false,
    root: process.cwd(),
    base: NEXT,
    logLevel: 'warn',
    // Vite builds the shard workers with their own plugin list: they must speak the newer protocol too.
    worker: { format: 'es', plugins: () => [bumpProtocol()] },
    build: {
      outDir: nextDir,
      emptyOutDir: true,
      target: 'es2022',
      minify: false,
      rollupOptions: { input: 'e2e/pages/skew.html', checks: { pluginTimings: false } },
    },
    plugins: [bumpProtocol()],
  });
});

test.afterAll(() => {
  if (nextDir) rmSync(nextDir, { recursive: true, force: true });
});

/** Serves the newer build under /skew-next/ on the test server's origin (Playwright routes the workers' requests too). */
async function serveNext(context: BrowserContext): Promise<void> {
  await context.route(`**${NEXT}**`, async (route) => {
    const path = normalize(new URL(route.request().url()).pathname.slice(NEXT.length));
    if (path.startsWith('..')) return route.fulfill({ status: 403 });
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
    try {
      return await route.fulfill({
        status: 200,
        contentType: types[extname(path)] ?? 'application/octet-stream',
        body: readFileSync(join(nextDir, path)),
      });
    } catch {
      return route.fulfill({ status: 404 });
    }
  });
}

const OLD = (db: string) => `/e2e/pages/skew.html?name=${db}`;
const NEW = (db: string) => `${NEXT}e2e/pages/skew.html?name=${db}`;

async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.tidal !== undefined || window.skew?.openError !== undefined, null, { timeout: 30_000 });
  return page;
}

const roles = (page: Page) => page.evaluate(async () => (await window.tidal.stats()).shards.map((s) => s.role));

test('an older tab steps aside for a newer tidal and tells its page; the newer tab leads on with every acknowledged write', async ({
  context,
}) => {
  await serveNext(context);
  const old = await openTab(context, OLD('skew1'));
  expect(await old.evaluate(() => window.skew.protocol)).toBe(1);
  expect(await roles(old)).toEqual(['leader', 'leader']);
  // Acknowledged writes of the older tab, before the newer one exists.
  await old.evaluate(() =>
    Promise.all([
      ...Array.from({ length: 200 }, (_, i) => window.tidal.increment(`base:${i % 20}`, 'n')),
      window.tidal.set('base:0', 'label', 'kept'),
      window.tidal.add('base:1', 'tags', 'x'),
    ]),
  );
  // And writes going on while the newer tab arrives: each one is recorded as acknowledged, or by the code it failed with.
  await old.evaluate(() => {
    const w = window as unknown as { acked: number[]; refused: Record<string, string>; live: Promise<void> };
    w.acked = [];
    w.refused = {};
    w.live = (async () => {
      for (let i = 0; i < 100_000; i++) {
        try {
          await window.tidal.increment(`live:${i}`, 'n');
          w.acked.push(i);
        } catch (error) {
          w.refused[i] = (error as { code: string }).code;
          return;
        }
      }
    })();
  });
  await expect.poll(() => old.evaluate(() => (window as unknown as { acked: number[] }).acked.length)).toBeGreaterThan(20);

  const next = await openTab(context, NEW('skew1'));
  expect(await next.evaluate(() => window.skew.protocol)).toBe(2);

  // The older page is told, once its tab has let go of everything.
  await expect.poll(() => old.evaluate(() => window.skew.superseded?.code), { timeout: 20_000 }).toBe('VersionSkew');
  const told = await old.evaluate(() => window.skew.superseded!);
  expect(told.message).toMatch(/protocol 2/);
  expect(told.details).toMatchObject({ protocol: 2, speaks: 1 });
  // It neither writes nor reads any more: every call says why.
  expect(
    await old.evaluate(async () => {
      const codeOf = (p: Promise<unknown>) =>
        p.then(
          () => 'ok',
          (e: { code: string }) => e.code,
        );
      return [
        window.tidal.superseded?.code,
        await codeOf(window.tidal.increment('late', 'n')),
        await codeOf(window.tidal.get('base:0')),
        await codeOf(window.tidal.transact((tx) => tx.increment('late', 'n'))),
      ];
    }),
  ).toEqual(['VersionSkew', 'VersionSkew', 'VersionSkew', 'VersionSkew']);
  // Its write loop ended on VersionSkew (not a lost write, nor another failure).
  const { acked, refused } = await old.evaluate(async () => {
    const w = window as unknown as { acked: number[]; refused: Record<string, string>; live: Promise<void> };
    await w.live;
    return { acked: w.acked, refused: w.refused };
  });
  expect(Object.values(refused)).toEqual(['VersionSkew']);

  // The newer tab leads every shard and holds every write the older one acknowledged.
  await expect.poll(() => roles(next), { timeout: 20_000 }).toEqual(['leader', 'leader']);
  const held = await next.evaluate(async () => {
    const base = await window.tidal.scan('base:', { limit: 100 });
    const live = await window.tidal.scan('live:', { limit: 10_000 });
    return {
      base: base.map((r) => r.entity.counters['n']),
      label: base.find((r) => r.key === 'base:0')?.entity.fields['label'],
      tags: base.find((r) => r.key === 'base:1')?.entity.sets['tags'],
      live: Object.fromEntries(live.map((r) => [r.key, r.entity.counters['n']])),
    };
  });
  expect(held.base).toEqual(Array(20).fill(10));
  expect(held.label).toBe('kept');
  expect(held.tags).toEqual(['x']);
  for (const i of acked) expect(held.live[`live:${i}`], `acknowledged write live:${i}`).toBe(1);
  // The write cut short by the step-aside landed at most once.
  const cut = Number(Object.keys(refused)[0]);
  expect([undefined, 1]).toContain(held.live[`live:${cut}`]);
  expect(Object.keys(held.live)).toHaveLength(acked.length + (held.live[`live:${cut}`] === undefined ? 0 : 1));

  // The newer tab writes on, and its log reopens whole after a reload (nothing of it was damaged).
  await next.evaluate(() => window.tidal.increment('base:0', 'n', 5));
  await next.reload();
  await next.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  expect(await next.evaluate(async () => (await window.tidal.get('base:0'))?.counters['n'])).toBe(15);
  expect(Object.keys(await next.evaluate(() => window.tidal.scan('live:', { limit: 10_000 })))).toHaveLength(Object.keys(held.live).length);
});

test('an older tab opened next to a newer leader refuses to open (VersionSkew), and the newer tab goes on undisturbed', async ({
  context,
}) => {
  await serveNext(context);
  const next = await openTab(context, NEW('skew2'));
  await next.evaluate(() => Promise.all(Array.from({ length: 50 }, () => window.tidal.increment('k', 'n'))));
  const old = await openTab(context, OLD('skew2'));
  expect(await old.evaluate(() => window.skew.openError?.code)).toBe('VersionSkew');
  expect(await old.evaluate(() => window.tidal)).toBeUndefined();
  // The newer tab kept every shard's lead and goes on.
  expect(await roles(next)).toEqual(['leader', 'leader']);
  expect(
    await next.evaluate(async () => (await window.tidal.get('k', { after: await window.tidal.increment('k', 'n') }))?.counters['n']),
  ).toBe(51);
});

test('a message of a newer transport protocol on a shard log channel is version skew: the tabs step aside and tell their pages, nothing acknowledged is lost', async ({
  context,
}) => {
  const leader = await openTab(context, OLD('skew3'));
  const follower = await openTab(context, OLD('skew3'));
  expect(await roles(leader)).toEqual(['leader', 'leader']);
  await expect.poll(() => roles(follower), { timeout: 20_000 }).toEqual(['follower', 'follower']);
  await leader.evaluate(() => Promise.all(Array.from({ length: 100 }, (_, i) => window.tidal.increment(`k:${i % 10}`, 'n'))));
  await follower.evaluate(() => Promise.all(Array.from({ length: 50 }, (_, i) => window.tidal.increment(`k:${i % 10}`, 'n'))));

  // What a newer tidal's leader would ship: a message whose tag this build does not speak, in a shape it cannot know.
  await leader.evaluate(() =>
    new BroadcastChannel('tidal:skew3:shard:0:log').postMessage({ tidal: 'transport/2', kind: 'frames', bytes: new ArrayBuffer(8) }),
  );
  for (const page of [leader, follower]) {
    await expect.poll(() => page.evaluate(() => window.skew.superseded?.code), { timeout: 20_000 }).toBe('VersionSkew');
    const told = await page.evaluate(() => window.skew.superseded!);
    expect(told.message).toMatch(/transport protocol 2/);
    expect(told.details).toMatchObject({ transport: 2, speaks: 1 });
    expect(
      await page.evaluate(() =>
        window.tidal.increment('late', 'n').then(
          () => 'ok',
          (e: { code: string }) => e.code,
        ),
      ),
    ).toBe('VersionSkew');
  }

  // Every acknowledged write is in the log the tabs let go of, whole: a tab opened afterwards leads and holds them.
  await leader.close();
  await follower.close();
  const after = await openTab(context, OLD('skew3'));
  await expect.poll(() => roles(after), { timeout: 20_000 }).toEqual(['leader', 'leader']);
  const counts = await after.evaluate(async () => (await window.tidal.scan('k:', { limit: 100 })).map((r) => r.entity.counters['n']));
  expect(counts).toEqual(Array(10).fill(15));
  expect(await after.evaluate(async () => (await window.tidal.get('late'))?.counters['n'])).toBeUndefined();
});
