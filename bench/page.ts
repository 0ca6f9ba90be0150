/**
 * The benchmark page: discovers the suites in `bench/suites/`, runs the
 * selected ones one at a time on the main thread of (headless) Chromium and
 * tells the runner (`bench/run.mjs`) what happens, event by event.
 *
 * A suite is `bench/suites/<name>.ts` exporting
 * `run(report: (metric, value, unit) => void): Promise<void>`. Files named
 * `*.worker.ts` or `_*.ts` in that folder are helpers, not suites. A suite
 * that throws (or rejects, or makes a bad `report` call, or outlives its
 * time limit) is reported as failed and the next suite still runs.
 *
 * Query parameters, all optional: `suites=wal,crdt` runs only the suites
 * whose file name contains one of the words; `suiteTimeoutMs=600000` bounds
 * each suite. Opened by hand (`npm run dev`, then `/bench/index.html`) the
 * page runs the same way and prints its log in the document.
 */
import { TidalError } from '../src/common/errors.js';

/** How a suite hands a measurement to the runner. */
export type Report = (metric: string, value: number, unit: string) => void;

/** What a module in `bench/suites/` exports. */
export interface BenchSuite {
  run(report: Report): Promise<void>;
}

/** One thing the page tells the runner; they arrive in this order per suite. */
export type BenchEvent =
  | { type: 'plan'; suites: string[]; available: string[] }
  | { type: 'suite-start'; suite: string }
  | { type: 'metric'; suite: string; metric: string; value: number; unit: string }
  | { type: 'suite-end'; suite: string; ok: true; ms: number }
  | { type: 'suite-end'; suite: string; ok: false; ms: number; error: string; stack: string }
  | { type: 'done'; ms: number };

/** Everything the page has emitted so far, for inspection from devtools or a runner. */
export interface BenchState {
  finished: boolean;
  events: BenchEvent[];
}

declare global {
  interface Window {
    __bench: BenchState;
    /** Installed by `bench/run.mjs` (Playwright `exposeFunction`) before the page loads. */
    __tidalBenchEvent?: (event: BenchEvent) => Promise<void>;
  }
}

const DEFAULT_SUITE_TIMEOUT_MS = 20 * 60_000;
const PAUSE_BETWEEN_SUITES_MS = 250;

/** Metric names are lower-case, dot-separated words: `wal.append.opfs.mb_per_s`. */
const METRIC_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const MAX_METRIC_NAME = 120;
const MAX_UNIT = 24;

const suiteLoaders = import.meta.glob<BenchSuite>(['./suites/*.ts', '!./suites/*.worker.ts', '!./suites/_*.ts']);

const state: BenchState = { finished: false, events: [] };
window.__bench = state;
const logElement = document.getElementById('log');

function emit(event: BenchEvent): void {
  state.events.push(event);
  if (logElement) logElement.textContent += `${describe(event)}\n`;
  // Not awaited: the binding round trip must not slow the suite down.
  // Playwright delivers binding calls in order.
  void window.__tidalBenchEvent?.(event);
}

function describe(event: BenchEvent): string {
  switch (event.type) {
    case 'plan':
      return `plan: ${event.suites.join(', ') || '(nothing)'} of ${event.available.join(', ')}`;
    case 'suite-start':
      return `[${event.suite}] start`;
    case 'metric':
      return `[${event.suite}] ${event.metric} = ${event.value} ${event.unit}`;
    case 'suite-end':
      return event.ok
        ? `[${event.suite}] ok in ${Math.round(event.ms)} ms`
        : `[${event.suite}] FAILED after ${Math.round(event.ms)} ms: ${event.error}`;
    case 'done':
      return `done in ${Math.round(event.ms)} ms`;
  }
}

/** `./suites/wal-append.ts` → `wal-append`. */
function suiteName(path: string): string {
  return path.replace(/^\.\/suites\//, '').replace(/\.ts$/, '');
}

/**
 * Checks one `report` call. Units must agree with the name's suffix so that
 * the ratios in `bench/targets.mjs` divide like by like.
 */
function checkReport(metric: unknown, value: unknown, unit: unknown, seen: Map<string, string>): string | undefined {
  if (typeof metric !== 'string' || metric.length > MAX_METRIC_NAME || !METRIC_NAME.test(metric)) {
    return `metric name ${JSON.stringify(metric)} is not lower-case dotted words (e.g. "wal.append.opfs.mb_per_s")`;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return `metric ${metric}: value ${String(value)} is not a finite number`;
  }
  if (typeof unit !== 'string' || unit.length === 0 || unit.length > MAX_UNIT) {
    return `metric ${metric}: unit ${JSON.stringify(unit)} must be a non-empty string of at most ${MAX_UNIT} characters`;
  }
  if (metric.endsWith('.mb_per_s') && unit !== 'MB/s') return `metric ${metric} must be reported in 'MB/s', not '${unit}'`;
  if (metric.endsWith('_ms') && unit !== 'ms') return `metric ${metric} must be reported in 'ms', not '${unit}'`;
  if (metric.endsWith('_per_s') && !unit.endsWith('/s')) return `metric ${metric} needs a per-second unit, not '${unit}'`;
  const earlier = seen.get(metric);
  if (earlier !== undefined) return `metric ${metric} was already reported in this run, by suite '${earlier}'`;
  return undefined;
}

function describeError(error: unknown): { error: string; stack: string } {
  if (error instanceof Error) {
    return { error: error.message || error.name, stack: error.stack ?? '' };
  }
  return { error: String(error), stack: '' };
}

async function runSuite(name: string, load: () => Promise<BenchSuite>, timeoutMs: number, seen: Map<string, string>): Promise<void> {
  emit({ type: 'suite-start', suite: name });
  const started = performance.now();
  let badReport: string | undefined;
  let ended = false;
  const report: Report = (metric, value, unit) => {
    if (ended) {
      // A suite that timed out may still be running; its late numbers were
      // measured beside the next suite and are not recorded.
      throw new TidalError('Closed', `suite ${name} reported ${String(metric)} after it ended`);
    }
    const problem = checkReport(metric, value, unit, seen);
    if (problem !== undefined) {
      badReport ??= problem; // fails the suite even if it catches the throw
      throw new TidalError('InvalidArgument', problem);
    }
    seen.set(metric, name);
    emit({ type: 'metric', suite: name, metric, value, unit });
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const suite = await load();
    if (typeof suite.run !== 'function') {
      throw new TidalError('InvalidArgument', `bench/suites/${name}.ts does not export an async function run(report)`);
    }
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TidalError('Timeout', `suite ${name} still running after ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([suite.run(report), timedOut]);
    if (badReport !== undefined) throw new TidalError('InvalidArgument', badReport);
    emit({ type: 'suite-end', suite: name, ok: true, ms: performance.now() - started });
  } catch (error) {
    emit({ type: 'suite-end', suite: name, ok: false, ms: performance.now() - started, ...describeError(error) });
  } finally {
    ended = true;
    clearTimeout(timer);
  }
}

function parseTimeout(raw: string | null): number {
  if (raw === null) return DEFAULT_SUITE_TIMEOUT_MS;
  const ms = Number(raw);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : DEFAULT_SUITE_TIMEOUT_MS;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const words = (params.get('suites') ?? '')
    .split(',')
    .map((word) => word.trim().toLowerCase())
    .filter((word) => word.length > 0);
  const timeoutMs = parseTimeout(params.get('suiteTimeoutMs'));

  const available = Object.keys(suiteLoaders).map(suiteName).sort();
  // A word selects the suites whose names contain it, or, when it names a suite exactly, that suite alone
  // (`open` runs the open suite without `open-storage`).
  const selects = (word: string, name: string) =>
    available.some((other) => other.toLowerCase() === word) ? name.toLowerCase() === word : name.toLowerCase().includes(word);
  const selected = available.filter((name) => words.length === 0 || words.some((w) => selects(w, name)));
  emit({ type: 'plan', suites: selected, available });

  const started = performance.now();
  const seen = new Map<string, string>();
  for (const [index, name] of selected.entries()) {
    if (index > 0) await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_SUITES_MS));
    const load = suiteLoaders[`./suites/${name}.ts`];
    if (load) await runSuite(name, load, timeoutMs, seen);
  }
  state.finished = true;
  emit({ type: 'done', ms: performance.now() - started });
}

void main();
