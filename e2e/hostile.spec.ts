import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import type { TidalStats } from '../src/index.js';
import type { shardChannels as ShardChannelsOf } from '../src/worker/channels.js';

// Hostile or broken traffic on tidal's BroadcastChannels, in real tabs: another script of the
// origin (here a page that opens no database) posts garbage, truncated, oversized and replayed
// messages at a high rate on every channel of every shard (their names come from
// src/worker/channels.ts, as tidal builds them), while two tabs write. Every such message must be
// refused and counted (`messagesRefused`, `payloadsRejected`) or recognised as a duplicate; none
// crashes a worker or reaches the state; the writes go on, the counts stay exact, the tabs converge.

const DB = 'hostile';
const SHARDS = 2;
const TAB = `/e2e/pages/db.html?name=${DB}&shards=${SHARDS}`;

async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.tidal !== undefined, null, { timeout: 30_000 });
  return page;
}

const stats = (page: Page): Promise<TidalStats> => page.evaluate(() => window.tidal.stats());

declare global {
  interface Window {
    hostile: {
      /** Real messages heard on tidal's channels, kept for replay (at most 2000). */
      captured: [string, unknown][];
      channels: Map<string, BroadcastChannel>;
      sent: number;
    };
  }
}

/** `count` increments of `h:<i % 40>` by 1 from `page`, in rounds of 20 at once; resolves when all are acknowledged. */
function writeLoad(page: Page, count: number): Promise<void> {
  return page.evaluate(async (n) => {
    for (let done = 0; done < n; done += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => window.tidal.increment(`h:${(done + i) % 40}`, 'n')));
    }
  }, count);
}

test('garbage, truncated, oversized and replayed messages on every channel, at a high rate: refused, counted, nothing applied; the tabs write on and converge', async ({
  context,
}) => {
  test.setTimeout(180_000);
  const a = await openTab(context, TAB); // leads both shards
  const b = await openTab(context, TAB); // follows; its writes are forwarded to A
  const attacker = await context.newPage();
  await attacker.goto('/e2e/pages/soak.html?janitor'); // the origin, no database
  await attacker.evaluate(
    async ({ db, shards }) => {
      const module = '/src/worker/channels.ts'; // tidal's own names, served by the dev server
      const { shardChannels } = (await import(/* @vite-ignore */ module)) as { shardChannels: typeof ShardChannelsOf };
      const hostile = { captured: [] as [string, unknown][], channels: new Map<string, BroadcastChannel>(), sent: 0 };
      for (let shard = 0; shard < shards; shard++) {
        const names = shardChannels(db, shard);
        for (const name of [names.log, names.rpc]) {
          const channel = new BroadcastChannel(name);
          channel.onmessage = (event) => {
            if (hostile.captured.length < 2000) hostile.captured.push([name, event.data]);
          };
          hostile.channels.set(name, channel);
        }
      }
      window.hostile = hostile;
    },
    { db: DB, shards: SHARDS },
  );
  // Traffic worth replaying: writes from both tabs (B's go over the RPC channel), segments, acks.
  await Promise.all([writeLoad(a, 200), writeLoad(b, 200)]);
  await expect.poll(() => attacker.evaluate(() => window.hostile.captured.length)).toBeGreaterThan(20);
  // B's workers restart: their forwarded writes start again from a fresh worker, which must not
  // take a replayed answer to its predecessor's requests for an answer to its own.
  await b.evaluate(() => {
    for (let shard = 0; shard < window.tidal.shards; shard++) window.tidal.debug!.killWorker(shard);
  });
  await expect.poll(async () => (await stats(b)).shards.map((s) => s.restarts), { timeout: 30_000 }).toEqual([1, 1]);
  // And following again before the flood: a restart counted is not yet a worker listening on the
  // log channel (under load its start takes seconds); one that applied A's newest writes is.
  await writeLoad(a, 40);
  const written = (await stats(a)).shards.map((s) => s.lsn);
  await expect.poll(async () => (await stats(b)).shards.map((s) => s.appliedLsn), { timeout: 30_000 }).toEqual(written);

  const flood = attacker.evaluate(async () => {
    const { captured, channels } = window.hostile;
    const post = (channel: BroadcastChannel, message: unknown) => {
      try {
        channel.postMessage(message);
        window.hostile.sent++;
      } catch {
        // a value the channel cannot clone never leaves this page
      }
    };
    const segments = captured.filter(([, m]) => (m as { kind?: string }).kind === 'segment');
    const sample = (i: number) => captured[i % captured.length]!;
    const garbage = (i: number): unknown[] => [
      null,
      i,
      `x${i}`,
      [i, 'leader'],
      { tidal: 'transport/1' },
      { tidal: 'transport/0', kind: 'segment' }, // not 'transport/2': a newer tag is a newer tidal (the tab steps aside, e2e/skew.spec.ts)
      { tidal: 'transport/1', kind: 'segment', from: { shard: 0, replica: 'x' }, to: { shard: 0, replica: 'y' }, bytes: 'not bytes' },
      { v: 1, t: 'leader', shard: 0, tab: '', since: -1, host: 'h' },
      { v: 1, t: 'leader', shard: 1, tab: 'x'.repeat(65), since: 1, host: 'h' },
      { v: 0, t: 'write', shard: 0 },
      { v: 1, t: 'write', shard: 0, from: 'evil', to: 'nobody', id: i, requests: 'all of them' },
      { v: 1, t: 'result', shard: 0, from: 'evil', to: 'b', id: i, outcomes: [{ ok: false, code: 'NotACode', message: '' }] },
      { v: 1, t: 'result', shard: 1, from: 'evil', to: 'b', id: i, outcomes: [{ ok: true, token: { shard: 0, lsn: -1 } }] },
      { nested: { deeper: { deepest: [1, 2, { v: 1 }] } } },
    ];
    for (let round = 0; round < 40; round++) {
      for (const channel of channels.values()) {
        for (const message of garbage(round)) post(channel, message);
        // Truncated: a real segment message with its bytes cut short (or a byte flipped).
        const [, original] = segments[round % Math.max(1, segments.length)] ?? [];
        if (original) {
          const m = original as { bytes: ArrayBuffer };
          const cut = m.bytes.slice(0, Math.max(1, Math.floor(m.bytes.byteLength / (2 + (round % 5)))));
          post(channel, { ...m, bytes: cut });
          const flipped = new Uint8Array(m.bytes.slice(0));
          flipped[round % flipped.byteLength] = flipped[round % flipped.byteLength]! ^ 0xff;
          post(channel, { ...m, bytes: flipped.buffer });
        }
        // Replayed: everything heard, again, on the channel it was heard on (which is where it can do harm).
        for (let i = 0; i < 25; i++) {
          const [name, message] = sample(round * 25 + i);
          post(channels.get(name)!, message);
        }
      }
      if (round === 0) {
        // Oversized: a control message past 64 KiB, a forwarded write past 10,000 requests, a tab
        // name of 1 MB. (A segment past the 64 MiB bound is refused the same way, by
        // parseWireMessage; but every worker listening would clone it first, which is the
        // platform's cost and no test of tidal's.)
        for (const channel of channels.values()) {
          post(channel, {
            tidal: 'transport/1',
            kind: 'control',
            from: { shard: 0, replica: 'x' },
            to: { shard: 0, replica: 'y' },
            bytes: new ArrayBuffer(65 * 1024),
          });
          post(channel, { v: 1, t: 'write', shard: 0, from: 'evil', to: 'nobody', id: 1, requests: new Array(10_001).fill(0) });
          post(channel, { v: 1, t: 'who', shard: 0, tab: 'y'.repeat(1024 * 1024) });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return window.hostile.sent;
  });
  // The tabs write all along, and look at their stats (what a worker counted is kept once seen).
  const watching = setInterval(() => void Promise.all([stats(a), stats(b)]).catch(() => undefined), 250);
  await Promise.all([writeLoad(a, 400), writeLoad(b, 400)]);
  const sent = await flood;
  clearInterval(watching);
  expect(sent).toBeGreaterThan(5000);
  await Promise.all([writeLoad(a, 200), writeLoad(b, 200)]);

  // Everything was counted: per shard, in both tabs, messages refused; the damaged segments failed verification.
  for (const [name, page] of [
    ['A', a],
    ['B', b],
  ] as const) {
    await expect
      .poll(async () => (await stats(page)).shards.map((s) => s.messagesRefused > 100), {
        timeout: 30_000,
        message: `tab ${name} refused more than 100 messages on each shard`,
      })
      .toEqual([true, true]);
  }
  await expect.poll(async () => (await stats(b)).shards.map((s) => s.payloadsRejected > 0), { timeout: 30_000 }).toEqual([true, true]);
  // Nothing of it reached the state, nothing acknowledged was lost or counted twice: 1,640 increments over 40 keys, in both tabs.
  const read = (page: Page) =>
    page.evaluate(async () => {
      const token = await window.tidal.increment('probe', 'n');
      await window.tidal.get('probe', { after: token });
      return (await window.tidal.scan('', { limit: 1000 })).filter((r) => r.key !== 'probe');
    });
  const want = Array.from({ length: 40 }, (_, i) => `h:${i}`)
    .sort()
    .map((key) => ({ key, entity: { counters: { n: 41 }, fields: {}, sets: {} } }));
  expect(await read(a)).toEqual(want);
  await expect.poll(async () => (await stats(b)).shards.map((s) => s.appliedLsn)).toEqual((await stats(a)).shards.map((s) => s.lsn));
  expect(await read(b)).toEqual(want);
  // No worker was lost to it (B's only restarts are the kills above) and the leadership did not move.
  expect((await stats(a)).shards.map((s) => [s.role, s.restarts])).toEqual([
    ['leader', 0],
    ['leader', 0],
  ]);
  expect((await stats(b)).shards.map((s) => s.restarts)).toEqual([1, 1]);
});
