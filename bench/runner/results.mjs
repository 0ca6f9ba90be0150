// What a run leaves behind: the targets evaluated over its metrics, merged
// with the previous bench/results/latest.json when the run was filtered,
// and written atomically. The file's shape is documented in bench/README.md;
// its `metrics` key is the contract other tools read.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SetupError } from './cli.mjs';

/** Throws a SetupError unless every target names a metric and exactly one finite bound. */
export function checkTargets(list) {
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

/** Throws a SetupError unless every comparison names a metric and a limit, and no bound. */
export function checkComparisons(list) {
  for (const c of list) {
    const label = JSON.stringify(c);
    if (typeof c.metric !== 'string' || typeof c.limit !== 'string')
      throw new SetupError(`bench/targets.mjs: comparison ${label} needs a metric and a limit`);
    if (c.atLeast !== undefined || c.atMost !== undefined)
      throw new SetupError(`bench/targets.mjs: comparison ${label} has a bound: make it a target`);
  }
}

/** metric / limit for one target or comparison, or a row with `value: null` and a note saying why not. */
function ratioRow(t, metrics, sameRun) {
  const m = metrics[t.metric];
  const l = t.limit === undefined ? undefined : metrics[t.limit];
  if (m === undefined || (t.limit !== undefined && (l === undefined || !sameRun(t.metric, t.limit)))) return undefined;
  const row = {
    name: t.name ?? (t.limit === undefined ? t.metric : `${t.metric} / ${t.limit}`),
    metric: t.metric,
    ...(t.limit === undefined ? {} : { limit: t.limit }),
    value: m.value,
  };
  if (l === undefined) return row;
  if (l.unit !== m.unit) return { ...row, value: null, note: `units differ: ${m.unit} vs ${l.unit}` };
  if (!(l.value > 0)) return { ...row, value: null, note: `limit ${t.limit} is ${l.value}` };
  return { ...row, value: m.value / l.value };
}

/**
 * Evaluates `targets` against `metrics` (name → { value, unit }). A target
 * is skipped when its metric or limit is missing, or when `sameRun` says the
 * two were not measured in the same run.
 */
export function evaluateTargets(list, metrics, sameRun = () => true) {
  const rows = [];
  for (const t of list) {
    const row = ratioRow(t, metrics, sameRun);
    if (row === undefined) continue;
    const bound = t.atLeast === undefined ? { atMost: t.atMost } : { atLeast: t.atLeast };
    const met = row.value !== null && (t.atLeast === undefined ? row.value <= t.atMost : row.value >= t.atLeast);
    const { note, ...rest } = row;
    rows.push({ ...rest, ...bound, met, ...(note === undefined ? {} : { note }) });
  }
  return rows;
}

/** Ratios without a bound (a peer's figure over tidal's), skipped like targets when a side is missing. */
export function evaluateComparisons(list, metrics, sameRun = () => true) {
  return list.map((c) => ratioRow(c, metrics, sameRun)).filter((row) => row !== undefined);
}

function isMetricEntry(v) {
  return v !== null && typeof v === 'object' && typeof v.value === 'number' && typeof v.unit === 'string';
}

/** The previous latest.json at `path`, if it exists and has the contract's shape. */
export async function readPrevious(path) {
  let text;
  try {
    text = await readFile(path, 'utf8');
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
    console.warn(`bench: ignoring ${path} (${error.message}); writing a fresh one`);
    return undefined;
  }
}

const asObject = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

/**
 * latest.json after this run. An unfiltered run replaces the file; a
 * filtered one keeps the metrics of suites it did not run (and, for a suite
 * that failed this time, the metrics it did not re-measure).
 */
export function mergeResults(previous, run, { targets, comparisons }) {
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
    comparisons: evaluateComparisons(comparisons, metrics, sameRun),
    failed,
    suites,
    measured,
    browser: run.browser,
    machine: run.machine,
    date: run.date,
    filter: run.words,
  };
}

/** Writes `results` to `path` through a temporary file, so that a reader never sees half of it. */
export async function writeLatest(path, results) {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(results, null, 2)}\n`);
  await rename(temp, path);
}
