// The runner's command line and environment: which suites, which limits.
// A SetupError is a run that could not happen (exit status 2), as opposed to
// a suite that failed (1).

export const USAGE = `usage: npm run bench [-- [--profile] <word> ...]
  Runs every suite in bench/suites/, or only those whose file name contains
  one of the words (a word naming a suite exactly: that suite alone). Results: bench/results/latest.json (see bench/README.md).
  --profile  records CPU profiles of the tabs a suite opens and their workers
             (the peers suite) into bench/profiles/<date>/, prints a summary
             per thread, and leaves latest.json as it was (a profiled run is
             slower: its figures are not results).`;

/** The run could not happen: bad arguments, no such suite, the browser or server did not start. */
export class SetupError extends Error {}

/** A positive whole number of milliseconds from the environment, or `fallback` when unset. */
export function envMs(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new SetupError(`${name}=${raw} is not a positive whole number of milliseconds`);
  return ms;
}

/** `argv` (without node and the script) → `{ help, profile, words }`; words select suites by file name. */
export function parseArgs(argv) {
  const words = [];
  let profile = false;
  for (const arg of argv) {
    if (arg === '-h' || arg === '--help') return { help: true, profile, words };
    if (arg === '--profile') {
      profile = true;
      continue;
    }
    if (arg.startsWith('-')) throw new SetupError(`unknown option ${arg}\n${USAGE}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(arg))
      throw new SetupError(`suite filter ${JSON.stringify(arg)} may only hold letters, digits, '.', '_' and '-'`);
    words.push(arg.toLowerCase());
  }
  return { help: false, profile, words };
}

/** A positive whole number from the environment, or `fallback` when unset. */
function positiveInteger(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new SetupError(`${name}=${raw} is not a positive whole number`);
  return n;
}

/** TIDAL_BENCH_PEERS: the peers suite's systems, comma-separated (the suite checks the names), or undefined for all. */
function peerSelection() {
  const raw = process.env.TIDAL_BENCH_PEERS;
  if (raw === undefined || raw === '') return undefined;
  if (!/^[a-z0-9_,]+$/.test(raw)) throw new SetupError(`TIDAL_BENCH_PEERS=${raw} is not a comma-separated list of system names`);
  return raw;
}

/** The run's settings from the environment (see bench/README.md). */
export function runSettings() {
  const port = process.env.TIDAL_BENCH_PORT ? Number(process.env.TIDAL_BENCH_PORT) : undefined;
  if (port !== undefined && (!Number.isSafeInteger(port) || port <= 0 || port > 65535))
    throw new SetupError(`TIDAL_BENCH_PORT=${process.env.TIDAL_BENCH_PORT} is not a port`);
  return {
    runTimeoutMs: envMs('TIDAL_BENCH_TIMEOUT_MS', 40 * 60_000),
    suiteTimeoutMs: envMs('TIDAL_BENCH_SUITE_TIMEOUT_MS', 20 * 60_000),
    verbose: process.env.TIDAL_BENCH_VERBOSE === '1',
    peers: peerSelection(),
    profileIntervalUs: positiveInteger('TIDAL_BENCH_PROFILE_INTERVAL_US', 200),
    port,
  };
}
