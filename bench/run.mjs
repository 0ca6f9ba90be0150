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
// Environment: TIDAL_BENCH_TIMEOUT_MS (whole run, default 20 min),
// TIDAL_BENCH_SUITE_TIMEOUT_MS (each suite, default 10 min),
// TIDAL_BENCH_PORT (default: any free port), TIDAL_BENCH_VERBOSE=1 (echo the
// page's console.log), TIDAL_CHROMIUM (browser binary, see scripts/chromium.mjs).

import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { createServer } from 'vite';
import { chromiumArgs, chromiumPath } from '../scripts/chromium.mjs';
import { targets } from './targets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(root, 'bench', 'results');
const latestPath = join(resultsDir, 'latest.json');

const USAGE = `usage: npm run bench [-- <word> ...]
  Runs every suite in bench/suites/, or only those whose file name contains
  one of the words. Results: bench/results/latest.json (see bench/README.md).`;

class SetupError extends Error {}

function envMs(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new SetupError(`${name}=${raw} is not a positive whole number of milliseconds`);
  return ms;
}

function parseArgs(argv) {
  const words = [];
  for (const arg of argv) {
    if (arg === '-h' || arg === '--help') return { help: true, words };
    if (arg.startsWith('-')) throw new SetupError(`unknown option ${arg}\n${USAGE}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(arg))
      throw new SetupError(`suite filter ${JSON.stringify(arg)} may only hold letters, digits, '.', '_' and '-'`);
    words.push(arg.toLowerCase());
  }
  return { help: false, words };
}

function checkTargets(list) {
  for (const t of list) {
    const label = JSON.stringify(t);
    if (typeof t.metric !== 'string') throw new SetupError(`bench/targets.mjs: ${label} has no metric`);
    if (t.limit !== undefined && typeof t.limit !== 'string')
      throw new SetupError(`bench/targets.mjs: ${label}: limit must be a metric name`);
    const bounds = [t.atLeast, t.atMost].filter((b) => b !== undefined);
    if (bounds.length !== 1 || !Number.isFinite(bounds[0])) {
      throw new SetupError(`bench/targets.mjs: ${label} needs exactly one finite atLeast or atMost`);
    }
  }
}

/** Asks the OS for a port nobody listens on (Vite then binds it strictly). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const formatNumber = (v) => {
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return String(Number(v.toPrecision(4)));
};

function printTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/**
 * Evaluates `targets` against `metrics` (name → { value, unit }). A target
 * is skipped when its metric or limit is missing, or when `sameRun` says the
 * two were not measured in the same run.
 */
function evaluateTargets(list, metrics, sameRun = () => true) {
  const rows = [];
  for (const t of list) {
    const m = metrics[t.metric];
    const l = t.limit === undefined ? undefined : metrics[t.limit];
    if (m === undefined || (t.limit !== undefined && (l === undefined || !sameRun(t.metric, t.limit)))) continue;
    const row = {
      name: t.name ?? (t.limit === undefined ? t.metric : `${t.metric} / ${t.limit}`),
      metric: t.metric,
      ...(t.limit === undefined ? {} : { limit: t.limit }),
      value: m.value,
      ...(t.atLeast === undefined ? { atMost: t.atMost } : { atLeast: t.atLeast }),
      met: false,
    };
    if (l !== undefined) {
      if (l.unit !== m.unit) {
        rows.push({ ...row, value: null, note: `units differ: ${m.unit} vs ${l.unit}` });
        continue;
      }
      if (!(l.value > 0)) {
        rows.push({ ...row, value: null, note: `limit ${t.limit} is ${l.value}` });
        continue;
      }
      row.value = m.value / l.value;
    }
    row.met = t.atLeast === undefined ? row.value <= t.atMost : row.value >= t.atLeast;
    rows.push(row);
  }
  return rows;
}

function isMetricEntry(v) {
  return v !== null && typeof v === 'object' && typeof v.value === 'number' && typeof v.unit === 'string';
}

/** The previous latest.json, if it exists and has the contract's shape. */
async function readPrevious() {
  let text;
  try {
    text = await readFile(latestPath, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const previous = JSON.parse(text);
    if (previous === null || typeof previous !== 'object' || previous.metrics === null || typeof previous.metrics !== 'object') {
      throw new Error('no "metrics" object');
    }
    for (const [name, entry] of Object.entries(previous.metrics)) {
      if (!isMetricEntry(entry)) throw new Error(`metric ${name} is not { value: number, unit: string }`);
    }
    return previous;
  } catch (error) {
    console.warn(`bench: ignoring ${latestPath} (${error.message}); writing a fresh one`);
    return undefined;
  }
}

const asObject = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

/**
 * latest.json after this run. An unfiltered run replaces the file; a
 * filtered one keeps the metrics of suites it did not run (and, for a suite
 * that failed this time, the metrics it did not re-measure).
 */
function mergeResults(previous, run) {
  const metrics = {};
  const measured = {};
  const suites = {};
  let failed = [];
  if (previous !== undefined && run.words.length > 0) {
    const prevMeasured = asObject(previous.measured);
    const passedNow = new Set(run.suites.filter((s) => s.ok).map((s) => s.name));
    for (const [name, entry] of Object.entries(previous.metrics)) {
      const from = asObject(prevMeasured[name]);
      if (typeof from.suite === 'string' && passedNow.has(from.suite)) continue; // re-measured or dropped by that suite
      metrics[name] = { value: entry.value, unit: entry.unit };
      if (typeof from.suite === 'string' && typeof from.date === 'string') measured[name] = { suite: from.suite, date: from.date };
    }
    Object.assign(suites, asObject(previous.suites));
    const ranNow = new Set(run.suites.map((s) => s.name));
    failed = (Array.isArray(previous.failed) ? previous.failed : []).filter(
      (f) => f !== null && typeof f === 'object' && typeof f.suite === 'string' && !ranNow.has(f.suite),
    );
  }
  for (const [name, m] of Object.entries(run.metrics)) {
    metrics[name] = { value: m.value, unit: m.unit };
    measured[name] = { suite: m.suite, date: run.date };
  }
  for (const s of run.suites) {
    suites[s.name] = { ok: s.ok, ms: Math.round(s.ms), date: run.date, ...(s.ok ? {} : { error: s.error }) };
    if (!s.ok) failed.push({ suite: s.name, error: s.error });
  }
  const sameRun = (a, b) => measured[a]?.date !== undefined && measured[a].date === measured[b]?.date;
  return {
    metrics,
    ratios: evaluateTargets(targets, metrics, sameRun),
    failed,
    suites,
    measured,
    browser: run.browser,
    date: run.date,
    filter: run.words,
  };
}

async function writeLatest(results) {
  await mkdir(resultsDir, { recursive: true });
  const temp = `${latestPath}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(results, null, 2)}\n`);
  await rename(temp, latestPath);
}

function isBenchEvent(e) {
  if (e === null || typeof e !== 'object' || typeof e.type !== 'string') return false;
  switch (e.type) {
    case 'plan':
      return Array.isArray(e.suites) && Array.isArray(e.available);
    case 'suite-start':
      return typeof e.suite === 'string';
    case 'metric':
      return typeof e.suite === 'string' && typeof e.metric === 'string' && typeof e.value === 'number' && typeof e.unit === 'string';
    case 'suite-end':
      return typeof e.suite === 'string' && typeof e.ok === 'boolean' && typeof e.ms === 'number';
    case 'done':
      return true;
    default:
      return false;
  }
}

async function main() {
  const { help, words } = parseArgs(process.argv.slice(2));
  if (help) {
    console.log(USAGE);
    return 0;
  }
  checkTargets(targets);
  const runTimeoutMs = envMs('TIDAL_BENCH_TIMEOUT_MS', 20 * 60_000);
  const suiteTimeoutMs = envMs('TIDAL_BENCH_SUITE_TIMEOUT_MS', 10 * 60_000);
  const verbose = process.env.TIDAL_BENCH_VERBOSE === '1';
  const port = process.env.TIDAL_BENCH_PORT ? Number(process.env.TIDAL_BENCH_PORT) : await freePort();
  if (!Number.isSafeInteger(port) || port <= 0 || port > 65535)
    throw new SetupError(`TIDAL_BENCH_PORT=${process.env.TIDAL_BENCH_PORT} is not a port`);

  const run = { words, date: new Date().toISOString(), browser: '', metrics: {}, suites: [] };
  const cleanups = [];
  const cleanup = async () => {
    for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => {});
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const server = await createServer({
      root,
      configFile: join(root, 'vite.config.ts'),
      // Its own optimizer cache, so a bench run never races an e2e or dev
      // server re-optimizing node_modules/.vite/deps.
      cacheDir: join(root, 'node_modules', '.vite', 'bench'),
      optimizeDeps: { include: ['comlink', 'hash-wasm'] },
      logLevel: 'warn',
      clearScreen: false,
      // No HMR and no file watching: others editing the tree during a long
      // run must not reload the page under a suite.
      server: { host: '127.0.0.1', port, strictPort: true, hmr: false, watch: null },
    });
    cleanups.push(() => server.close());
    await server.listen();

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
    page.on('pageerror', (error) => {
      console.warn(`bench: uncaught in the page: ${error.message}`);
      pageErrors.push(error.message);
    });
    page.on('console', (message) => {
      const type = message.type();
      if (type === 'error' || type === 'warning' || verbose) console.log(`[page ${type}] ${message.text()}`);
    });
    page.on('crash', () => abort(new Error('the page crashed')));

    run.browser = `Chromium ${context.browser()?.version() ?? '(unknown version)'} headless`;
    const query = new URLSearchParams({ suiteTimeoutMs: String(suiteTimeoutMs) });
    if (words.length > 0) query.set('suites', words.join(','));
    const url = `http://127.0.0.1:${port}/bench/index.html?${query}`;
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the run did not finish within ${runTimeoutMs} ms (TIDAL_BENCH_TIMEOUT_MS)`)),
        runTimeoutMs,
      );
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
  } finally {
    await cleanup();
  }

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

  const results = mergeResults(await readPrevious(), run);
  await writeLatest(results);
  const failedNow = run.suites.filter((s) => !s.ok);
  console.log(`\nbench: wrote ${latestPath}${words.length > 0 ? ' (merged)' : ''}`);
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
