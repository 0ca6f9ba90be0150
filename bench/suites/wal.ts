/**
 * The WAL suite: how fast tidal's write-ahead log appends and recovers, and
 * the limits those numbers are read against, measured in the same run.
 *
 * Every append is one `wal.append(events)` of 1,000 events, awaited before
 * the next (so each is its own group commit: one batch, one write, one
 * flush). An event is a `Uint8Array(100)`; encoded it is 102 bytes (tag,
 * length, bytes), so a batch is 72 header bytes + 1 payload version byte +
 * 102,000 bytes = 102,073 bytes. MB is 10^6 bytes throughout, as in every
 * `.mb_per_s` metric of the bench (bench/README.md, "Units").
 *
 * - `wal.append.memory.events_per_s`: the WAL on `MemoryStorage`, durable
 *   mode, on the page's main thread (no OPFS involved); a fresh storage per
 *   round, rounds of 1 s after a 0.5 s warm-up.
 * - `wal.append.opfs.mb_per_s`: the same appends to a fresh WAL on
 *   `OpfsStorage` (4 MiB segments, so segment rolls are included) in a
 *   dedicated worker, durable mode (a flush per batch); batch bytes
 *   (headers + payloads) per second. Rounds of 1.5 s.
 * - `limit.opfs_write.mb_per_s`: raw `FileSystemSyncAccessHandle` writes of
 *   the same batch sizes (real batch bytes), one write and one flush per
 *   batch, to a fresh file, in the same worker. Its rounds alternate with
 *   the WAL's (raw first, then WAL first) to cancel drift. The log says,
 *   per round, what the WAL's time is made of: the raw writes of its
 *   batch sizes, BLAKE3 of its batches alone (untimed for both metrics;
 *   the WAL digests every batch before it writes it, on the same thread),
 *   and the rest (encoding, segment rolls, the writes' excess over raw).
 *   raw / (raw + hashing) is what the ratio can reach with this hash.
 * - `wal.recovery.mb_per_s`: `Wal.open` of a 64 MiB log on OPFS (built in
 *   the worker from the same appends: 16 sealed 4 MiB segments and an open
 *   one), timed from the call to its resolution; bytes of log per second.
 *   Recovery verifies every digest (docs/FORMAT.md §6): every batch digest,
 *   and the footer digest of every sealed segment (v2: over its header and
 *   batch digests), so every byte is hashed once. The files
 *   were just written, so they are read from the OS page cache, as they are
 *   for the limit.
 * - `limit.blake3.mb_per_s`: the package's BLAKE3 alone (`loadBlake3().hash`,
 *   warmed up: the WASM SIMD build in Chromium) over the same log bytes (its
 *   segment files read into memory and concatenated), in 4 MiB chunks, in
 *   the same worker. Its rounds alternate with recovery's.
 * - `limit.blake3_hash_wasm.mb_per_s`: the same with hash-wasm's BLAKE3 (no
 *   SIMD; what the package hashed with before, and still does where WASM
 *   SIMD is missing), a round after each recovery round.
 *
 * Each metric is the **median** of its timed rounds (a warm-up round runs
 * first and is not counted). The worker's OPFS folder
 * (`tidal-bench/wal-<uuid>/`) is deleted at the end, pass or fail.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import { MemoryStorage } from '../../src/wal/memory-storage.js';
import { Wal } from '../../src/wal/wal.js';
import type { LogShape, WalBenchWorker } from './wal.worker.js';

type Report = (metric: string, value: number, unit: string) => void;

const EVENTS_PER_BATCH = 1_000;
const EVENT_BYTES = 100;
const MEMORY_WARMUP_MS = 500;
const MEMORY_ROUND_MS = 1_000;
const MEMORY_ROUNDS = 5;
const APPEND_ROUND_MS = 1_500;
const APPEND_ROUNDS = 6;
const LOG_BYTES = 64 * 1024 * 1024;
const RECOVERY_ROUNDS = 7;
/** Longest a single worker call may take before the suite gives up on it. */
const CALL_TIMEOUT_MS = 120_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round1 = (x: number): string => x.toFixed(1);

/** Events per second of durable appends to a `MemoryStorage` WAL, one round. */
async function memoryAppendRound(events: readonly Uint8Array[], ms: number): Promise<number> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 0, durable: true });
  let appended = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    const range = await wal.append(events);
    appended += events.length;
    if (range.last !== appended)
      throw new TidalError('HeaderMismatch', `memory WAL gave LSNs ${range.first}..${range.last}, expected up to ${appended}`);
    elapsed = performance.now() - started;
  }
  await wal.close();
  return appended / (elapsed / 1000);
}

async function measureMemoryAppend(report: Report): Promise<void> {
  const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => new Uint8Array(EVENT_BYTES).fill(i & 0xff));
  await memoryAppendRound(events, MEMORY_WARMUP_MS);
  const rounds: number[] = [];
  for (let i = 0; i < MEMORY_ROUNDS; i++) rounds.push(await memoryAppendRound(events, MEMORY_ROUND_MS));
  console.log(`wal: memory append rounds (events/s): ${rounds.map((r) => Math.round(r)).join(', ')}`);
  report('wal.append.memory.events_per_s', median(rounds), 'events/s');
}

/** `npm run bench -- wal --profile`: one more append round and recovery round each, CPU-profiled (bench/README.md). */
const profiling = new URLSearchParams(location.search).get('profile') === '1';

/** One append round and one recovery round, each CPU-profiled in the page and the worker (the runner's tab 0); no figure reported. */
async function profiledRounds(remote: Comlink.Remote<WalBenchWorker>, shape: LogShape, failed: Promise<never>): Promise<void> {
  const tabs = window.__tidalBenchTabs;
  if (!tabs) throw new TidalError('InvalidArgument', '`--profile` needs `npm run bench` (bench/run.mjs profiles the page)');
  await tabs({ op: 'profile-start', tab: 0 });
  await guarded('profiled append round', remote.appendRound(APPEND_ROUND_MS, false), failed);
  await tabs({ op: 'profile-stop', tab: 0, label: 'wal-append' });
  await tabs({ op: 'profile-start', tab: 0 });
  await guarded('profiled recovery round', remote.recoveryRound(shape), failed);
  await tabs({ op: 'profile-stop', tab: 0, label: 'wal-recovery' });
}

/** Races a worker call against the worker failing and against a generous time limit. */
function guarded<T>(what: string, call: Promise<T>, failed: Promise<never>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TidalError('Timeout', `wal worker: ${what} took longer than ${CALL_TIMEOUT_MS} ms`)),
      CALL_TIMEOUT_MS,
    );
  });
  return Promise.race([call, failed, timedOut]).finally(() => clearTimeout(timer));
}

async function measureOpfs(report: Report): Promise<void> {
  const worker = new Worker(new URL('./wal.worker.ts', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => reject(new TidalError('Closed', `wal worker failed: ${event.message}`));
  });
  failed.catch(() => {}); // may reject while nothing awaits it
  const remote = Comlink.wrap<WalBenchWorker>(worker);
  let measured = false;
  try {
    await guarded('warm-up', remote.warmUp(), failed);

    const wal: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < APPEND_ROUNDS; i++) {
      const r = await guarded(`append round ${i}`, remote.appendRound(APPEND_ROUND_MS, i % 2 === 0), failed);
      wal.push(r.walMbPerS);
      raw.push(r.rawMbPerS);
      console.log(
        `wal: append round ${i}: wal ${round1(r.walMbPerS)} MB/s, raw ${round1(r.rawMbPerS)} MB/s, ${r.batches} batches of ${r.batchBytes} bytes; ` +
          `WAL ${round1(r.walMs)} ms = raw writes ${round1(r.rawMs)} + hashing alone ${round1(r.hashMs)} + the rest ${round1(r.walMs - r.rawMs - r.hashMs)} ms ` +
          `(raw / (raw + hashing) = ${(r.rawMs / (r.rawMs + r.hashMs)).toFixed(2)})`,
      );
    }
    report('wal.append.opfs.mb_per_s', median(wal), 'MB/s');
    report('limit.opfs_write.mb_per_s', median(raw), 'MB/s');

    const shape = await guarded('building the recovery log', remote.buildLog(LOG_BYTES), failed);
    console.log(
      `wal: recovery log: ${shape.bytes} bytes, ${shape.segments} segments (${shape.sealed} sealed), ${shape.batches} batches, ${shape.events} events`,
    );
    await guarded('recovery warm-up', remote.recoveryRound(shape), failed);
    await guarded('blake3 warm-up', remote.blake3Round(), failed);
    await guarded('hash-wasm blake3 warm-up', remote.blake3Round('wasm'), failed);
    const recovery: number[] = [];
    const blake3: number[] = [];
    const hashWasm: number[] = [];
    for (let i = 0; i < RECOVERY_ROUNDS; i++) {
      if (i % 2 === 0) blake3.push(await guarded(`blake3 round ${i}`, remote.blake3Round(), failed));
      recovery.push((await guarded(`recovery round ${i}`, remote.recoveryRound(shape), failed)).mbPerS);
      if (i % 2 === 1) blake3.push(await guarded(`blake3 round ${i}`, remote.blake3Round(), failed));
      hashWasm.push(await guarded(`hash-wasm blake3 round ${i}`, remote.blake3Round('wasm'), failed));
    }
    console.log(
      `wal: recovery rounds (MB/s): ${recovery.map(round1).join(', ')}; blake3 rounds (${await remote.blake3Implementation()}): ` +
        `${blake3.map(round1).join(', ')}; hash-wasm blake3 rounds: ${hashWasm.map(round1).join(', ')}`,
    );
    if (profiling) await profiledRounds(remote, shape, failed);
    report('wal.recovery.mb_per_s', median(recovery), 'MB/s');
    report('limit.blake3.mb_per_s', median(blake3), 'MB/s');
    report('limit.blake3_hash_wasm.mb_per_s', median(hashWasm), 'MB/s');
    measured = true;
  } finally {
    try {
      await guarded('cleanup', remote.cleanup(), failed);
    } catch (error) {
      // eslint-disable-next-line no-unsafe-finally -- deliberate: after a clean measurement, a failed cleanup is the error to report
      if (measured) throw error;
      // The measurement already failed: that error is the one to report.
      console.warn(`wal: cleanup after a failure also failed: ${String(error)}`);
    } finally {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    }
  }
}

/** Measures the WAL metrics and their limits; see the module comment for each. */
export async function run(report: Report): Promise<void> {
  await measureMemoryAppend(report);
  await measureOpfs(report);
}
