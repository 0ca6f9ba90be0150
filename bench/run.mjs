#!/usr/bin/env node
// `npm run bench [-- word ...]`: runs the benchmark suites in headless
// Chromium and records what they measured.
//
// Starts a Vite dev server on a free port, opens bench/index.html (which
// loads bench/page.ts) in Debian's Chromium, prints each metric as it
// arrives, then a table of metrics and of the targets in bench/targets.mjs,
// and writes bench/results/latest.json. Words select suites by file name
// (`npm run bench -- wal crdt`); a filtered run merges into latest.json.
// Exit status: 0 all selected suites passed, 1 a suite failed or timed out,
// 2 the run itself could not happen (bad arguments, no such suite, browser
// or server trouble).
//
// Environment: TIDAL_BENCH_TIMEOUT_MS (whole run, default 40 min),
// TIDAL_BENCH_SUITE_TIMEOUT_MS (each suite, default 20 min),
// TIDAL_BENCH_PORT (default: any free port), TIDAL_BENCH_VERBOSE=1 (echo the
// page's console.log), TIDAL_BENCH_PEERS (the peers suite's systems, default all),
// TIDAL_CHROMIUM (browser binary, see scripts/chromium.mjs).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { chromiumArgs, chromiumPath } from '../scripts/chromium.mjs';
import { writePeersChart } from './runner/chart.mjs';
import { writeTargetsChart } from './runner/targets-chart.mjs';
import { updateReadme } from './runner/peers-table.mjs';
import { SetupError, USAGE, parseArgs, runSettings } from './runner/cli.mjs';
import { isBenchEvent } from './runner/events.mjs';
import { describeMachine } from './runner/machine.mjs';
import { checkComparisons, checkTargets, evaluateTargets, mergeResults, readPrevious, writeLatest } from './runner/results.mjs';
import { freePort } from '../scripts/free-port.mjs';
import { startServer } from './runner/server.mjs';
import { formatNumber, printTable } from './runner/table.mjs';
import { TabService } from './runner/tabs.mjs';
import { comparisons, targets } from './targets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(root, 'bench', 'results');
const latestPath = join(resultsDir, 'latest.json');

/** Starts a persistent Chromium context on a fresh profile directory (deleted by `cleanups`). */
async function launchBrowser(cleanups) {
  // A persistent profile in a fresh directory, not Playwright's default
  // incognito context: incognito keeps OPFS in memory, and the OPFS
  // metrics must measure the disk.
  const profile = await mkdtemp(join(tmpdir(), 'tidal-bench-'));
  cleanups.push(() => rm(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    args: chromiumArgs,
    headless: true,
  });
  cleanups.push(() => context.close());
  return context;
}

/**
 * Opens the bench page at `url` and records into `run` what it reports,
 * suite by suite, until it is done, the run times out or the page breaks.
 * Uncaught errors in the page (or in a tab a suite opened) fail the suite
 * running at the time.
 */
async function runSuites(context, { url, origin, words, runTimeoutMs, verbose, profiles }, run, cleanups) {
  const page = context.pages()[0] ?? (await context.newPage());
  let current; // the suite running now
  let finish;
  let abort;
  const finished = new Promise((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  finished.catch(() => {}); // may settle before anyone awaits it (during goto)
  const pageErrors = [];
  const uncaught = (message) => {
    console.warn(`bench: uncaught in the page: ${message}`);
    pageErrors.push(message);
  };

  const tabs = new TabService(context, origin, uncaught, profiles);
  cleanups.push(() => tabs.closeAll());
  // Tab 0, the bench page itself (its workers too), for suites that profile what they start in it (open).
  if (profiles !== undefined) await tabs.adoptPage(page);
  await page.exposeFunction('__tidalBenchTabs', (request) => tabs.handle(request));
  await page.exposeFunction('__tidalBenchEvent', (event) => {
    if (!isBenchEvent(event)) {
      console.warn(`bench: ignoring malformed event from the page: ${JSON.stringify(event)}`);
      return;
    }
    switch (event.type) {
      case 'plan':
        if (event.suites.length === 0) {
          abort(new SetupError(`no suite matches ${words.join(', ')}; available: ${event.available.join(', ') || '(none)'}`));
          return;
        }
        console.log(
          `bench: running ${event.suites.join(', ')} (${event.suites.length} of ${event.available.length} suites) in ${run.browser}`,
        );
        break;
      case 'suite-start':
        current = { name: event.suite, started: performance.now() };
        console.log(`[${event.suite}] running`);
        break;
      case 'metric':
        run.metrics[event.metric] = { value: event.value, unit: event.unit, suite: event.suite };
        console.log(`[${event.suite}] ${event.metric} = ${formatNumber(event.value)} ${event.unit}`);
        break;
      case 'suite-end': {
        current = undefined;
        const ownErrors = pageErrors.splice(0);
        const ok = event.ok && ownErrors.length === 0;
        const error = event.ok ? `uncaught in the page while it ran: ${ownErrors.join(' | ')}` : event.error;
        run.suites.push({ name: event.suite, ok, ms: event.ms, ...(ok ? {} : { error }) });
        const seconds = (event.ms / 1000).toFixed(1);
        if (ok) console.log(`[${event.suite}] ok (${seconds} s)`);
        else {
          console.log(`[${event.suite}] FAILED (${seconds} s): ${error}`);
          const stack = typeof event.stack === 'string' ? event.stack.split('\n').slice(1, 6) : [];
          for (const frame of stack) console.log(`    ${frame.trim()}`);
        }
        break;
      }
      case 'done':
        finish();
        break;
    }
  });
  page.on('pageerror', (error) => uncaught(error.message));
  page.on('console', (message) => {
    const type = message.type();
    if (type === 'error' || type === 'warning' || verbose) console.log(`[page ${type}] ${message.text()}`);
  });
  page.on('crash', () => abort(new Error('the page crashed')));

  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the run did not finish within ${runTimeoutMs} ms (TIDAL_BENCH_TIMEOUT_MS)`)), runTimeoutMs);
  });
  try {
    await page.goto(url);
    await Promise.race([finished, timedOut]);
  } catch (error) {
    if (error instanceof SetupError || (run.suites.length === 0 && current === undefined)) throw error;
    // The run broke mid-way: what finished is still worth recording.
    const name = current?.name ?? '(page)';
    const ms = current === undefined ? 0 : performance.now() - current.started;
    run.suites.push({ name, ok: false, ms, error: error.message });
    console.log(`[${name}] FAILED: ${error.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Prints this run's metrics and the targets they meet or miss. */
function printRun(run) {
  const thisRun = Object.fromEntries(Object.entries(run.metrics).map(([k, m]) => [k, { value: m.value, unit: m.unit }]));
  console.log('');
  if (Object.keys(thisRun).length > 0) {
    printTable(
      ['metric', 'value', 'unit'],
      Object.entries(thisRun).map(([name, m]) => [name, formatNumber(m.value), m.unit]),
    );
  } else console.log('bench: no metrics reported');
  const ratios = evaluateTargets(targets, thisRun);
  if (ratios.length > 0) {
    console.log('');
    printTable(
      ['target', 'value', 'wanted', 'status'],
      ratios.map((r) => [
        r.name,
        r.value === null ? '-' : formatNumber(r.value),
        r.atLeast === undefined ? `<= ${r.atMost}` : `>= ${r.atLeast}`,
        r.note ?? (r.met ? 'met' : 'MISSED'),
      ]),
    );
  }
}

/** The sync suite measures against Ceph RGW: bring up a one-node cluster when it is selected, hand it to the page, stop it after. */
async function startCephForSync(context, words, cleanups) {
  if (words.length > 0 && !words.some((word) => 'sync'.includes(word))) return;
  const { startCeph } = await import('../scripts/ceph.mjs');
  const ceph = await startCeph({ nodes: 1, log: (m) => console.log(`bench: ceph ${m}`) });
  cleanups.push(() => ceph.stop());
  const handle = {
    endpoints: ceph.endpoints,
    bucket: ceph.bucket,
    accessKeyId: ceph.accessKeyId,
    secretAccessKey: ceph.secretAccessKey,
    region: ceph.region,
  };
  await context.addInitScript((h) => (window.__tidalCeph = h), handle);
}

async function main() {
  const { help, profile, words } = parseArgs(process.argv.slice(2));
  if (help) {
    console.log(USAGE);
    return 0;
  }
  checkTargets(targets);
  checkComparisons(comparisons);
  const settings = runSettings();
  const port = settings.port ?? (await freePort());

  const profiles = profile
    ? { dir: join(root, 'bench', 'profiles', new Date().toISOString().replace(/[:.]/g, '-')), intervalUs: settings.profileIntervalUs }
    : undefined;
  const run = { words, date: new Date().toISOString(), browser: '', machine: describeMachine(), metrics: {}, suites: [] };
  const cleanups = [];
  const cleanup = async () => {
    for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => {});
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const server = await startServer(root, port, { minify: profiles === undefined });
    cleanups.push(() => server.close());
    const context = await launchBrowser(cleanups);
    run.browser = `Chromium ${context.browser()?.version() ?? '(unknown version)'} headless`;
    const origin = `http://127.0.0.1:${port}`;
    await startCephForSync(context, words, cleanups);
    const query = new URLSearchParams({ suiteTimeoutMs: String(settings.suiteTimeoutMs) });
    if (words.length > 0) query.set('suites', words.join(','));
    if (settings.peers !== undefined) query.set('peers', settings.peers);
    if (profiles !== undefined) query.set('profile', '1');
    await runSuites(context, { ...settings, url: `${origin}/bench/index.html?${query}`, origin, words, profiles }, run, cleanups);
  } finally {
    await cleanup();
  }

  printRun(run);
  if (profiles !== undefined) {
    console.log(`\nbench: CPU profiles and their summary.txt in ${profiles.dir}; latest.json left as it was (a profiled run is slower)`);
    return run.suites.some((s) => !s.ok) ? 1 : 0;
  }
  const results = mergeResults(await readPrevious(latestPath), run, { targets, comparisons });
  await writeLatest(latestPath, results);
  console.log(`\nbench: wrote ${latestPath}${words.length > 0 ? ' (merged)' : ''}`);
  const chart = await writePeersChart(resultsDir, results);
  if (chart !== undefined) console.log(`bench: wrote ${chart}`);
  const targetsSvg = await writeTargetsChart(resultsDir, results);
  if (targetsSvg !== undefined) console.log(`bench: wrote ${targetsSvg}`);
  if (await updateReadme(join(root, 'bench', 'README.md'), results)) console.log('bench: wrote the peers table into bench/README.md');
  const failedNow = run.suites.filter((s) => !s.ok);
  if (failedNow.length > 0) {
    console.log(`bench: ${failedNow.length} suite(s) failed: ${failedNow.map((s) => s.name).join(', ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`bench: ${error instanceof SetupError ? error.message : (error.stack ?? error)}`);
    process.exit(2);
  },
);
