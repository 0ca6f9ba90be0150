#!/usr/bin/env node
// `npm run soak -- --seeds N` (seeds 1..N), `--seed S` (replay one), `--from F`
// (with --seeds: seeds F..F+N-1), `--parallel P` (seeds run at once, default 2), `--minutes M`
// (start no seed after M minutes: the run ends on time, and says how many seeds it ran),
// `--verbose` (print what happened in every seed, not only in failing ones).
//
// Each seed is one run of a seeded schedule (scripts/soak-schedule.mjs) in
// real Chromium: real tabs of e2e/pages/soak.html, real shard workers, the
// database in OPFS on disk (a persistent profile: incognito would keep OPFS
// in memory). Every tab writes continuously (some writes with idempotency
// keys, some of those sent twice) while the schedule opens, closes and
// reloads tabs, kills and hangs workers, corrupts and drops payloads. At the
// end every write without a key must have settled and every keyed write that
// may have been lost with its tab is sent again from a live tab; then every
// tab must hold exactly what the ledgers of all tabs say, and all the same.
//
// One browser, one context; each seed has a database of its own (its name
// carries the seed), removed from OPFS once the seed passed. No fixed sleeps
// but the schedule's own write periods: everything else waits on a condition,
// judged on progress (see STALL_MS), not on a fixed wall-clock bound, so a
// loaded machine is slow, not failed, and a stall still fails. A failure has a
// class (lost, rejected, stall, slow, load, page), counted in the summary,
// with the machine's load over the run. A failing seed is printed with its schedule and what
// happened, and replays with `--seed S` (the schedule and each tab's writes
// are the same; the browser's interleaving is not).
//
// Environment: TIDAL_SOAK_PORT (Vite's port, default a free one),
// TIDAL_CHROMIUM (browser binary, see scripts/chromium.mjs).
// Exit status: 0 every seed passed, 1 a seed failed, 2 the run could not happen.

import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { build, preview } from 'vite';
import { chromiumArgs, chromiumPath } from './chromium.mjs';
import { freePort } from './free-port.mjs';
import { describeSchedule, soakSchedule } from './soak-schedule.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * Verdicts on progress, not on the wall clock: a wait for writes to settle, or for the tabs to
 * converge, fails when nothing moved (no write settled, no shard's log, replica or role changed)
 * for STALL_MS, which is a stall whatever the load; it goes on as long as things move, up to a cap
 * that only a machine many times oversubscribed reaches (then the failure says it was slow, not
 * stuck). Waits that have no progress to watch (a page loading, a tab taking a lead) are bounded
 * by a base scaled with the machine's load per core at the time.
 */
const STALL_MS = 60_000;
const SETTLE_CAP_MS = 300_000;
const OPEN_BASE_MS = 30_000;
const SEED_TIMEOUT_MS = 900_000;
const LEADER_TIMEOUT_MS = 1500;
const cores = availableParallelism();

/** How much slower than an idle machine this one is now (1-min load per core, 1..8). */
function loadFactor() {
  return Math.min(8, Math.max(1, loadavg()[0] / cores));
}

/** A bound for a wait without progress to watch: `baseMs` on an idle machine, longer under load. */
const loadAware = (baseMs) => Math.round(baseMs * loadFactor());

/** A seed's failure, with its class (for the run's summary): what kind of thing went wrong. */
class SoakFailure extends Error {
  /**
   * `kind`: 'lost' (a tab holds other than the ledgers say: a real bug), 'rejected' (a write
   * refused that must not be), 'stall' (nothing moved for STALL_MS), 'slow' (still moving at a cap:
   * load), 'load' (a page or lead not there in a load-scaled bound), 'page' (uncaught in a page).
   */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function parseArgs(argv) {
  const args = { seeds: undefined, seed: undefined, from: 1, parallel: 2, verbose: false, minutes: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--verbose') {
      args.verbose = true;
      continue;
    }
    const value = Number(argv[++i]);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${flag} takes a positive integer`);
    if (flag === '--seeds') args.seeds = value;
    else if (flag === '--seed') args.seed = value;
    else if (flag === '--from') args.from = value;
    else if (flag === '--parallel') args.parallel = value;
    else if (flag === '--minutes') args.minutes = value;
    else throw new Error(`unknown option ${flag}`);
  }
  if ((args.seeds === undefined) === (args.seed === undefined)) throw new Error('give --seeds N or --seed S');
  return args;
}

/**
 * Builds the soak page (one module per page and per worker, as an app ships them: a tab opens in
 * a fraction of the time the dev server's hundreds of modules take) and serves the build.
 */
async function startServer(port, outDir) {
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, minify: false, sourcemap: true, rollupOptions: { input: join(root, 'e2e/pages/soak.html') } },
  });
  return preview({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port, strictPort: true },
  });
}

/** Resolves when `condition()` is truthy (polled), rejects with `what` past `timeoutMs` (a 'load' failure). */
async function waitFor(condition, timeoutMs, what, intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline)
      throw new SoakFailure('load', `${what}: not reached within ${timeoutMs} ms (load ${loadavg()[0].toFixed(1)} on ${cores} cores)`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves when `condition()` is truthy; `position()` says where things are (a string that changes
 * while anything moves). Rejects with a 'stall' after STALL_MS without a change, a 'slow' at the cap.
 */
async function waitForProgress(condition, position, what) {
  const started = Date.now();
  let movedAt = started;
  let last = await position();
  for (;;) {
    if (await condition()) return;
    const now = Date.now();
    if (now - movedAt >= STALL_MS) throw new SoakFailure('stall', `${what}: nothing moved for ${STALL_MS} ms (at ${last})`);
    if (now - started >= SETTLE_CAP_MS)
      throw new SoakFailure('slow', `${what}: still moving but not there after ${SETTLE_CAP_MS} ms (load ${loadavg()[0].toFixed(1)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const at = await position();
    if (at !== last) movedAt = Date.now();
    last = at;
  }
}

/** A quiesce that left writes unsettled, as a failure: stalled, or slow at the cap. */
function unsettledFailure(tab, unsettled, stalledMs, what) {
  return stalledMs >= STALL_MS
    ? new SoakFailure('stall', `tab ${tab.writer}: ${unsettled} ${what} did not settle: nothing moved in the tab for ${stalledMs} ms`)
    : new SoakFailure(
        'slow',
        `tab ${tab.writer}: ${unsettled} ${what} did not settle within ${SETTLE_CAP_MS} ms, still moving (load ${loadavg()[0].toFixed(1)})`,
      );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs seed `seed` in `context`; resolves with its figures, rejects with what went wrong (`error.log` says what happened). */
async function runSeed(context, origin, seed, runId) {
  const schedule = soakSchedule(seed);
  const db = `soak-${runId}-${seed}`;
  const url = `${origin}/e2e/pages/soak.html?name=${db}&shards=${schedule.shards}&leaderTimeoutMs=${LEADER_TIMEOUT_MS}`;
  const started = Date.now();
  const log = [];
  const note = (line) => log.push(`${String(Date.now() - started).padStart(6)} ms  ${line}`);
  const pageErrors = [];
  let consoleLines = 0;
  const tabs = []; // live, in opening order: { page, writer }
  const gone = []; // the ledgers of tabs closed or reloaded
  let instance = 0;
  const figures = { writes: 0, keyedResent: 0 };

  const startWriter = async (tab) => {
    tab.writer = `${seed}.${instance++}`;
    const bound = loadAware(OPEN_BASE_MS);
    await tab.page
      .waitForFunction(() => window.tidal !== undefined || window.tidalError !== undefined, null, { timeout: bound })
      .catch(() => {
        throw new SoakFailure('load', `tab ${tab.writer} did not open the database within ${bound} ms (load ${loadavg()[0].toFixed(1)})`);
      });
    const error = await tab.page.evaluate(() => window.tidalError);
    // A worker that did not answer its setup in time is the machine's load; any other refusal is tidal's.
    if (error)
      throw new SoakFailure(/Timeout/.test(error) ? 'load' : 'rejected', `tab ${tab.writer} could not open the database: ${error}`);
    await tab.page.evaluate((plan) => window.soak.start(plan), { writer: tab.writer, seed: seed * 1000 + instance, keys: schedule.keys });
    note(`tab ${tab.writer} writing`);
  };
  const open = async () => {
    const tab = { page: undefined, writer: '' };
    tabs.push(tab); // in the schedule's order (and closed with the seed, whatever happens)
    tab.page = await context.newPage();
    tab.page.on('pageerror', (e) => pageErrors.push(`tab ${tab.writer}: ${e.message}`));
    // tidal's own warnings and errors (a lead not taken yet, a restart that failed): the log of a failing seed.
    tab.page.on('console', (message) => {
      if ((message.type() === 'warning' || message.type() === 'error') && consoleLines++ < 200)
        note(`  [tab ${tab.writer} ${message.type()}] ${message.text().replace(/\s+/g, ' ').slice(0, 300)}`);
    });
    const bound = loadAware(OPEN_BASE_MS);
    await tab.page.goto(url, { timeout: bound }).catch((e) => {
      throw new SoakFailure('load', `tab ${tab.writer || '(new)'} did not load within ${bound} ms: ${e.message.split('\n')[0]}`);
    });
    await startWriter(tab);
  };
  /** Stops a tab's writes without a key (they must settle); its keyed writes stay in flight, to be lost with it. */
  const retire = async (tab) => {
    const { writes, unsettled, stalledMs } = await tab.page.evaluate(
      ([stall, cap]) => window.soak.quiesce('plain', stall, cap),
      [STALL_MS, SETTLE_CAP_MS],
    );
    if (unsettled > 0) throw unsettledFailure(tab, unsettled, stalledMs, 'writes without an idempotency key');
    gone.push(writes);
    note(
      `tab ${tab.writer} stopped: ${writes.length} writes, ${writes.filter((w) => w.state === 'pending').length} keyed ones left in flight`,
    );
  };
  /** Damages the next payload of the shard's leader: in the tab that leads it, once one does (a takeover may be under way). */
  const leaderFault = async (step) => {
    const method = step.action === 'corrupt' ? 'corruptNextPayload' : 'dropNextPayload';
    return waitFor(
      async () => {
        for (const tab of tabs) {
          const done = await tab.page.evaluate(
            async ([m, shard]) =>
              window.tidal.debug[m](shard).then(
                () => true,
                (e) => (e.code === 'InvalidArgument' || e.code === 'Timeout' ? false : Promise.reject(e)),
              ),
            [method, step.shard],
          );
          if (done) return `by tab ${tab.writer}`;
        }
        return undefined;
      },
      loadAware(OPEN_BASE_MS),
      `a tab leading shard ${step.shard}`,
    );
  };

  const run = async () => {
    await Promise.all(Array.from({ length: schedule.tabs }, open)); // at once: they race for the leads
    for (const [i, step] of schedule.steps.entries()) {
      await sleep(step.gapMs); // the tabs write meanwhile
      const tab = step.tab === undefined ? undefined : tabs[step.tab];
      note(`step ${i + 1}: ${step.action}${tab ? ` tab ${tab.writer}` : ''}${step.shard === undefined ? '' : ` shard ${step.shard}`}`);
      switch (step.action) {
        case 'open':
          await open();
          break;
        case 'close':
          await retire(tab);
          await tab.page.close();
          tabs.splice(step.tab, 1);
          break;
        case 'reload':
          await retire(tab);
          await tab.page.reload();
          await startWriter(tab);
          break;
        case 'kill':
          await tab.page.evaluate((shard) => window.tidal.debug.killWorker(shard), step.shard);
          break;
        case 'hang':
          await tab.page.evaluate(([shard, ms]) => window.tidal.debug.hangWorker(shard, ms), [step.shard, step.ms]);
          break;
        case 'corrupt':
        case 'drop':
          note(`  ${await leaderFault(step)}`);
          break;
      }
    }
    // The end: every tab stops writing, then every write settles in the live tabs (one tab's
    // progress is then its own: no other tab's new writes move the logs meanwhile).
    note('quiescing');
    await Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.soak.stop())));
    const final = [];
    for (const tab of tabs) {
      const { writes, unsettled, stalledMs } = await tab.page.evaluate(
        ([stall, cap]) => window.soak.quiesce('all', stall, cap),
        [STALL_MS, SETTLE_CAP_MS],
      );
      if (unsettled > 0) throw unsettledFailure(tab, unsettled, stalledMs, 'writes');
      final.push(writes);
    }
    const all = [...gone, ...final].flat();
    figures.writes = all.length;
    const plainRejected = all.filter((w) => w.idempotencyKey === undefined && w.state === 'rejected');
    if (plainRejected.length > 0)
      throw new SoakFailure(
        'rejected',
        `${plainRejected.length} writes without a key were rejected, e.g. ${JSON.stringify(plainRejected.slice(0, 3))}`,
      );
    // Keyed writes that no tab saw acknowledged (lost in flight with their tab, or rejected): sent again.
    const byKey = new Map();
    for (const w of all) if (w.idempotencyKey !== undefined) byKey.set(w.idempotencyKey, [...(byKey.get(w.idempotencyKey) ?? []), w]);
    const uncertain = [...byKey.values()].filter((ws) => !ws.some((w) => w.state === 'acked')).map((ws) => ws[0]);
    // ... and a few that were acknowledged, which must not count twice.
    const again = [
      ...uncertain,
      ...[...byKey.values()]
        .filter((ws) => ws.some((w) => w.state === 'acked'))
        .slice(0, 3)
        .map((ws) => ws[0]),
    ];
    figures.keyedResent = uncertain.length;
    if (again.length > 0) {
      const outcomes = await tabs[0].page.evaluate((writes) => window.soak.resend(writes), again);
      const failed = outcomes.filter((o) => o !== 'acked');
      if (failed.length > 0)
        throw new SoakFailure(
          'rejected',
          `${failed.length} keyed writes sent again were not acknowledged: ${failed.slice(0, 3).join('; ')}`,
        );
    }
    note(`${all.length} writes; ${uncertain.length} keyed ones sent again`);
    // What every tab must hold: each acknowledged write without a key, each idempotency key once.
    const expected = new Map();
    const entry = (key) => expected.get(key) ?? expected.set(key, { n: 0, s: new Set() }).get(key);
    const counted = [...all.filter((w) => w.idempotencyKey === undefined), ...[...byKey.values()].map((ws) => ws[0])];
    for (const w of counted) {
      if (w.op === 'increment') entry(w.key).n += w.by;
      else entry(w.key).s.add(w.member);
    }
    const want = [...expected.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, { n, s }]) => ({
        key,
        entity: { counters: n > 0 ? { n } : {}, fields: {}, sets: s.size > 0 ? { s: [...s].sort() } : {} },
      }));
    // Every tab caught up with the shards' leaders (one per shard, among the live tabs)...
    let stats = [];
    await waitForProgress(
      async () => {
        stats = await Promise.all(tabs.map((tab) => tab.page.evaluate(() => window.tidal.stats())));
        for (let shard = 0; shard < schedule.shards; shard++) {
          const leaders = stats.filter((s) => s.shards[shard].role === 'leader');
          if (leaders.length !== 1) return false;
          const lsn = leaders[0].shards[shard].lsn;
          if (!stats.every((s) => s.shards[shard].appliedLsn === lsn)) return false;
        }
        return true;
      },
      () => stats.map((s) => s.shards.map((h) => `${h.role}:${h.lsn}:${h.appliedLsn}:${h.restarts}`).join(' ')).join(' | '),
      'every tab caught up with one leader per shard',
    );
    // ... and holds exactly that.
    for (const tab of tabs) {
      const rows = await tab.page.evaluate(() => window.tidal.scan('k:', { limit: 1000 }));
      for (const row of rows) if (row.entity.sets.s) row.entity.sets.s = [...row.entity.sets.s].sort();
      const got = JSON.stringify(rows);
      if (got !== JSON.stringify(want))
        throw new SoakFailure('lost', `tab ${tab.writer} holds\n    ${got}\n  where the ledgers say\n    ${JSON.stringify(want)}`);
    }
    if (pageErrors.length > 0) throw new SoakFailure('page', `uncaught in a page: ${pageErrors.join(' | ')}`);
    note('every tab holds exactly what was written');
  };

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new SoakFailure('slow', `seed ${seed} did not finish within ${SEED_TIMEOUT_MS} ms`)), SEED_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(), timeout]);
    return { seed, ms: Date.now() - started, ...figures, steps: schedule.steps.length, log };
  } catch (error) {
    error.log = log;
    error.schedule = schedule;
    error.state = await describeTabs(tabs);
    throw error;
  } finally {
    clearTimeout(timer);
    await Promise.all(tabs.map((tab) => tab.page?.close().catch(() => undefined)));
  }
}

/** Where each live tab's shards are and what it still waits for, for a failure report (bounded: a tab may not answer). */
async function describeTabs(tabs) {
  const lines = await Promise.all(
    tabs.map(async (tab) => {
      const asked = tab.page.evaluate(async () => {
        const stats = await window.tidal.stats();
        const pending = window.soak.pendingWrites();
        const shards = stats.shards.map(
          (s) =>
            `shard ${s.shard}: ${s.role}, leader tab ${s.leaderTab?.slice(0, 6) ?? '-'}, lsn ${s.lsn}, applied ${s.appliedLsn}, restarts ${s.restarts}`,
        );
        return `tab ${stats.tab.slice(0, 6)}: ${shards.join('; ')}; pending ${pending.length} (${pending.slice(0, 8).join(', ')})`;
      });
      const answer = await Promise.race([asked, sleep(5000).then(() => 'did not answer within 5 s')]).catch(
        (e) => `no answer: ${e.message}`,
      );
      return `  ${tab.writer}: ${answer}`;
    }),
  );
  return lines.join('\n');
}

/** Removes a passed seed's database from OPFS (and its lock terms from localStorage). */
async function cleanUp(context, origin, runId, seed) {
  const page = await context.newPage();
  try {
    await page.goto(`${origin}/e2e/pages/soak.html?janitor`);
    await page.evaluate(async (name) => {
      for (const key of Object.keys(localStorage)) if (key.startsWith(`tidal:${name}:`)) localStorage.removeItem(key);
      const tidal = await (await navigator.storage.getDirectory()).getDirectoryHandle('tidal', { create: true });
      await tidal.removeEntry(name, { recursive: true }).catch(() => undefined);
    }, `soak-${runId}-${seed}`);
  } finally {
    await page.close();
  }
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`soak: ${error.message}\nusage: npm run soak -- --seeds N [--from F] [--parallel P] | --seed S`);
    process.exit(2);
  }
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.seeds }, (_, i) => args.from + i);
  const port = Number(process.env.TIDAL_SOAK_PORT ?? (await freePort()));
  const profile = await mkdtemp(join(tmpdir(), 'tidal-soak-'));
  const server = await startServer(port, join(profile, 'build'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, args: chromiumArgs, headless: true });
  const origin = `http://127.0.0.1:${port}`;
  const runId = Date.now().toString(36);
  const started = Date.now();
  const passed = [];
  const failed = []; // { seed, kind }
  const loads = [];
  const sampleLoad = setInterval(() => loads.push(loadavg()[0]), 10_000);
  let next = 0;
  console.log(`soak: ${seeds.length} seed(s) from ${seeds[0]}, ${args.parallel} at a time, on ${origin}`);
  const stopAt = args.minutes === undefined ? Infinity : started + args.minutes * 60_000;
  const lane = async () => {
    while (next < seeds.length && Date.now() < stopAt) {
      const seed = seeds[next++];
      try {
        const result = await runSeed(context, origin, seed, runId);
        passed.push(result);
        if (args.verbose) console.log(`${describeSchedule(soakSchedule(seed))}\n${result.log.map((line) => `  ${line}`).join('\n')}`);
        await cleanUp(context, origin, runId, seed);
        const done = passed.length + failed.length;
        if (seeds.length <= 20 || done % 25 === 0)
          console.log(
            `soak: seed ${seed} ok in ${(result.ms / 1000).toFixed(1)} s (${result.writes} writes, ${result.keyedResent} keyed resent); ${done}/${seeds.length} done, ${failed.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(1)}`,
          );
      } catch (error) {
        const kind = error instanceof SoakFailure ? error.kind : 'other';
        failed.push({ seed, kind });
        console.log(`\nsoak: seed ${seed} FAILED (${kind}): ${error.message}`);
        if (error.schedule) console.log(describeSchedule(error.schedule));
        if (error.log) console.log(`what happened:\n${error.log.map((line) => `  ${line}`).join('\n')}`);
        if (error.state) console.log(`the tabs then:\n${error.state}`);
        console.log(`replay: npm run soak -- --seed ${seed}\n`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(args.parallel, seeds.length) }, lane));
  } finally {
    clearInterval(sampleLoad);
    await context.close().catch(() => undefined);
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  const writes = passed.reduce((n, r) => n + r.writes, 0);
  const mean = passed.length ? passed.reduce((n, r) => n + r.ms, 0) / passed.length / 1000 : 0;
  const ran = passed.length + failed.length;
  if (ran < seeds.length)
    console.log(
      `soak: stopped after ${args.minutes} minutes: ran ${ran} of the ${seeds.length} seeds (${seeds[0]}..${seeds[0] + ran - 1})`,
    );
  const kinds = [...new Set(failed.map((f) => f.kind))].map((kind) => {
    const of = failed.filter((f) => f.kind === kind).map((f) => f.seed);
    return `${of.length} ${kind} (seeds ${of.join(', ')})`;
  });
  loads.push(loadavg()[0]);
  const load = `load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}, mean ${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(1)}, on ${cores} cores`;
  console.log(
    `soak: ${passed.length} passed, ${failed.length} failed${kinds.length ? `: ${kinds.join('; ')}` : ''} in ${seconds.toFixed(0)} s; ` +
      `${writes} writes checked; ${mean.toFixed(1)} s per passed seed, ${ran ? (seconds / ran).toFixed(1) : '-'} s of run per seed (${args.parallel} at a time); ${load}`,
  );
  process.exit(failed.length > 0 ? 1 : 0);
}

await main();
