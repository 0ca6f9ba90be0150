/**
 * The OPFS side of the `wal` bench suite (`wal.ts`): one dedicated module
 * worker (OPFS sync access handles exist only there) that measures the WAL
 * on OPFS and the limits it is read against, in the same realm, on the same
 * disk. The suite drives it over comlink, one measurement round per call,
 * so that it can interleave a metric's rounds with its limit's.
 *
 * Every file lives under one OPFS folder per suite run,
 * `tidal-bench/wal-<uuid>/`, which `cleanup()` deletes.
 */
import * as Comlink from 'comlink';
import type { OpfsFileHandle } from '../../src/wal/opfs-storage.js';
import { createBlake3, loadBlake3, type Blake3 } from '../../src/common/blake3.js';
import { TidalError } from '../../src/common/errors.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { Wal } from '../../src/wal/wal.js';

/** What one append round measured: the durable WAL, then raw writes of the same batch sizes. */
export interface AppendRound {
  /** Batch bytes (headers and payloads) the WAL wrote, per second, MB = 10^6 bytes. */
  walMbPerS: number;
  /** The same byte counts written raw, one flushed write per batch, per second. */
  rawMbPerS: number;
  batches: number;
  batchBytes: number;
  /** The WAL's appends, ms. */
  walMs: number;
  /** The raw writes (and flushes) of the same sizes, ms. */
  rawMs: number;
  /** BLAKE3 of the same batches alone, as the WAL hashes each (header fields and payload), ms: a diagnostic. */
  hashMs: number;
}

/** What one recovery round measured. */
export interface RecoveryRound {
  mbPerS: number;
  /** Bytes recovery read and verified (`RecoveryReport.bytes`). */
  bytes: number;
  ms: number;
}

/** The recovery log as built. */
export interface LogShape {
  bytes: number;
  segments: number;
  sealed: number;
  batches: number;
  events: number;
}

const ROOT = 'tidal-bench';
const SHARD = 0;
const EVENTS_PER_BATCH = 1_000;
const EVENT_BYTES = 100;
const HASH_CHUNK_BYTES = 4 * 1024 * 1024;
const MB = 1e6;

const runFolder = `wal-${crypto.randomUUID()}`;
let round = 0;

/** The 1,000 events every append carries (the encoder copies them, so they are reused). */
const events: Uint8Array[] = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
  const event = new Uint8Array(EVENT_BYTES);
  for (let j = 0; j < EVENT_BYTES; j++) event[j] = (i * 31 + j * 7) & 0xff;
  return event;
});

/** Real batch bytes (one batch as the WAL wrote it), the content of the raw writes. */
let sampleBatch: Uint8Array | undefined;

/** Batch sizes of the latest WAL round, replayed by raw rounds that run before theirs. */
let lastSizes: number[] | undefined;

/** The recovery log's segment files, concatenated, for the BLAKE3 limit. */
let logBytes: Uint8Array | undefined;
let portable: Promise<Blake3> | undefined;
/** hash-wasm's BLAKE3 (no SIMD), for `limit.blake3_hash_wasm.mb_per_s`. */
const portableBlake3 = () => (portable ??= createBlake3('wasm'));

const recoveryPath = [ROOT, runFolder, 'recovery'];

async function runDirectory(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  const bench = await root.getDirectoryHandle(ROOT, { create: true });
  return bench.getDirectoryHandle(runFolder, { create: true });
}

/** Appends batches of 1,000 events to a fresh durable WAL for `ms`; returns the batch sizes and the time taken. */
async function timeWalAppends(ms: number): Promise<{ sizes: number[]; ms: number }> {
  const path = [ROOT, runFolder, `append-${round++}`];
  const storage = await OpfsStorage.open(path);
  let wal: Wal | undefined;
  try {
    ({ wal } = await Wal.open(storage, { shard: SHARD, durable: true }));
    let appended = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      const range = await wal.append(events);
      appended += 1;
      if (range.last !== appended * EVENTS_PER_BATCH) {
        throw new TidalError('HeaderMismatch', `append ${appended} got LSNs ${range.first}..${range.last}`);
      }
      elapsed = performance.now() - started;
    }
    // Untimed: the sizes of the batches just written, as stored (headers included).
    const sizes: number[] = [];
    for await (const batch of wal.readBatches(1)) {
      sizes.push(batch.bytes.length);
      sampleBatch ??= batch.bytes.slice();
    }
    if (sizes.length !== appended) throw new TidalError('Corrupt', `appended ${appended} batches, read back ${sizes.length}`);
    lastSizes = sizes;
    return { sizes, ms: elapsed };
  } finally {
    await wal?.close();
    await OpfsStorage.destroy(path);
  }
}

/** Writes `sizes` bytes, one write and one flush each, through a sync access handle on a fresh file. */
async function timeRawWrites(sizes: readonly number[]): Promise<number> {
  const largest = sizes.reduce((a, b) => Math.max(a, b), 0);
  const content = new Uint8Array(largest);
  if (sampleBatch) content.set(sampleBatch.subarray(0, largest));
  const dir = await runDirectory();
  const name = `raw-${round++}.bin`;
  const file = (await dir.getFileHandle(name, { create: true })) as OpfsFileHandle;
  const handle = await file.createSyncAccessHandle();
  let ms: number;
  try {
    handle.truncate(0);
    let at = 0;
    const started = performance.now();
    for (const size of sizes) {
      const written = handle.write(content.subarray(0, size), { at });
      if (written !== size) throw new TidalError('StorageError', `OPFS wrote ${written} of ${size} bytes`);
      at += size;
      handle.flush();
    }
    ms = performance.now() - started;
  } finally {
    handle.close();
    await dir.removeEntry(name);
  }
  return ms;
}

const sum = (sizes: readonly number[]): number => sizes.reduce((a, b) => a + b, 0);

/** BLAKE3 of batches of `sizes` bytes as the WAL digests each (`fillBatchHeaderV2`: 40 header bytes, then the payload), ms. */
async function timeHashing(sizes: readonly number[]): Promise<number> {
  const b3 = await loadBlake3();
  const largest = sizes.reduce((a, b) => Math.max(a, b), 0);
  const content = new Uint8Array(largest);
  if (sampleBatch) content.set(sampleBatch.subarray(0, largest));
  let check = 0;
  const started = performance.now();
  for (const size of sizes) check ^= b3.hash(content.subarray(0, 40), content.subarray(72, size))[0]!;
  const ms = performance.now() - started;
  if (check < 0) throw new TidalError('Corrupt', 'unreachable: keeps the digests alive');
  return ms;
}

const api = {
  /** Loads BLAKE3 and runs one short untimed append and raw round, so that timed rounds start warm. */
  async warmUp(): Promise<void> {
    await loadBlake3();
    const { sizes } = await timeWalAppends(300);
    await timeRawWrites(sizes);
  },

  /**
   * One round of `wal.append.opfs` against `limit.opfs_write`: the WAL for
   * about `ms`, and raw writes of the batch sizes a WAL round produced, in
   * the order given (the suite alternates it to cancel drift). Raw writes
   * that go first replay the previous WAL round's sizes.
   */
  async appendRound(ms: number, rawFirst: boolean): Promise<AppendRound> {
    if (!lastSizes) throw new TidalError('InvalidArgument', 'appendRound before warmUp');
    const rawSizes = rawFirst ? lastSizes : undefined;
    const rawFirstMs = rawSizes ? await timeRawWrites(rawSizes) : 0;
    const wal = await timeWalAppends(ms);
    const sizes = rawSizes ?? wal.sizes;
    const rawMs = rawSizes ? rawFirstMs : await timeRawWrites(sizes);
    const walBytes = sum(wal.sizes);
    // Untimed for both metrics: what hashing these batches alone costs, so that the log can say what the gap is made of.
    const hashMs = await timeHashing(wal.sizes);
    return {
      walMbPerS: walBytes / MB / (wal.ms / 1000),
      rawMbPerS: sum(sizes) / MB / (rawMs / 1000),
      batches: wal.sizes.length,
      batchBytes: walBytes / wal.sizes.length,
      walMs: wal.ms,
      // The raw writes of the WAL round's own sizes take, scaled: the raw round may have replayed the previous sizes.
      rawMs: (rawMs * walBytes) / sum(sizes),
      hashMs,
    };
  },

  /** Builds the recovery log: batches of 1,000 100-byte events until the segments hold `bytes`; closes it. */
  async buildLog(bytes: number): Promise<LogShape> {
    const storage = await OpfsStorage.open(recoveryPath);
    const { wal } = await Wal.open(storage, { shard: SHARD, durable: false });
    const total = () => sum(wal.segments().map((s) => s.bytes));
    while (total() < bytes) await wal.append(events);
    const segments = wal.segments();
    const logSize = total();
    await wal.close();
    // The same bytes in memory, for the BLAKE3 limit: every segment file, in log order.
    logBytes = new Uint8Array(logSize);
    let at = 0;
    for (const segment of segments) {
      const file = await storage.open(segment.id.fileName());
      try {
        at += file.read(logBytes.subarray(at, at + file.size()), 0);
      } finally {
        file.close();
      }
    }
    if (at !== logSize) throw new TidalError('Truncated', `read ${at} of ${logSize} log bytes back`);
    const { wal: reopened, report } = await Wal.open(storage, { shard: SHARD });
    await reopened.close();
    if (report.issues.length > 0)
      throw new TidalError('Corrupt', `the freshly built log does not recover cleanly: ${report.issues[0]!.message}`);
    return {
      bytes: logSize,
      segments: segments.length,
      sealed: segments.filter((s) => s.sealed).length,
      batches: report.batches,
      events: report.events,
    };
  },

  /** Opens (recovers) the recovery log once, timed from `Wal.open` to its resolution. */
  async recoveryRound(expected: LogShape): Promise<RecoveryRound> {
    const storage = await OpfsStorage.open(recoveryPath);
    const started = performance.now();
    const { wal, report } = await Wal.open(storage, { shard: SHARD });
    const ms = performance.now() - started;
    await wal.close();
    if (report.issues.length > 0 || report.bytesCut !== 0) {
      throw new TidalError('Corrupt', `recovery of a clean log found damage: ${report.issues.map((i) => i.message).join('; ')}`);
    }
    if (report.bytes !== expected.bytes || report.events !== expected.events || report.segments !== expected.segments) {
      throw new TidalError(
        'HeaderMismatch',
        `recovery read ${report.bytes} bytes, ${report.events} events, ${report.segments} segments; the log has ${expected.bytes}, ${expected.events}, ${expected.segments}`,
      );
    }
    return { mbPerS: report.bytes / MB / (ms / 1000), bytes: report.bytes, ms };
  },

  /** Which build `loadBlake3()` gave this worker (`'wasm-simd'` or `'wasm'`). */
  async blake3Implementation(): Promise<string> {
    return (await loadBlake3()).implementation;
  },

  /**
   * BLAKE3 over the recovery log's bytes, in 4 MiB chunks: the package's shared instance (what
   * recovery hashes with), or hash-wasm's build (`'wasm'`) for comparison.
   */
  async blake3Round(implementation: 'loaded' | 'wasm' = 'loaded'): Promise<number> {
    if (!logBytes) throw new TidalError('InvalidArgument', 'blake3Round before buildLog');
    const b3 = implementation === 'loaded' ? await loadBlake3() : await portableBlake3();
    const started = performance.now();
    let check = 0;
    for (let at = 0; at < logBytes.length; at += HASH_CHUNK_BYTES) {
      check ^= b3.hash(logBytes.subarray(at, at + HASH_CHUNK_BYTES))[0]!;
    }
    const ms = performance.now() - started;
    if (check < 0) throw new TidalError('Corrupt', 'unreachable: keeps the digests alive');
    return logBytes.length / MB / (ms / 1000);
  },

  /** Deletes this run's OPFS folder (and `tidal-bench/` when nothing else is in it). */
  async cleanup(): Promise<void> {
    logBytes = undefined;
    await OpfsStorage.destroy([ROOT, runFolder]);
    const root = await navigator.storage.getDirectory();
    try {
      await root.removeEntry(ROOT); // not recursive: refuses if another run's folder is there
    } catch {
      // still in use by another run, or already gone
    }
  },
};

/** The API the `wal` suite reaches over comlink. */
export type WalBenchWorker = typeof api;

Comlink.expose(api);
