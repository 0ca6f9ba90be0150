/**
 * The open-storage suite: what a long-lived shard keeps on OPFS (issue 13).
 *
 * In a dedicated worker (`open.worker.ts`, `soak`), one shard is written
 * 10M events of the signal workload (80 % counter increments, 20 % label
 * sets over 10k entities) through the shard API as its leader writes them
 * (`ShardLeader.writeBatch` on a durable `Wal`, 4,000 writes a tick, each
 * write one event), not through the page API (10M events through
 * `openTidal` would take far longer than the suite may); snapshots by the
 * default policy, the log compacted after each. Every 100k events and at
 * the end, what the shard keeps (every segment and snapshot file, and no
 * other file named after the shard) must stay within twice the newest
 * snapshot plus the open segment plus the segment bound (4 MiB): a run
 * that breaks it fails the suite and reports nothing.
 *
 * - `storage.bytes_after_10m_events`: every byte the shard keeps at the end;
 * - `storage.snapshot_bytes_after_10m_events`: its newest snapshot, beside it.
 *
 * The OPFS folder (`tidal-bench/storage-<uuid>/`) is deleted at the end.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import type { OpenBenchWorker } from './open.worker.js';

type Report = (metric: string, value: number, unit: string) => void;

const EVENTS = 10_000_000;
const SEED = 0x5701;
// Below the runner's per-suite bound (TIDAL_BENCH_SUITE_TIMEOUT_MS, 20 min by
// default), so that a soak too slow to finish fails here, with what it was doing,
// rather than being cut off by the runner. It takes about 4 min on 2 cores.
const LIMIT_MS = 15 * 60_000;

/** Measures the storage metrics; see the module comment. */
export async function run(report: Report): Promise<void> {
  const worker = new Worker(new URL('./open.worker.ts', import.meta.url), { type: 'module', name: 'bench storage soak' });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => reject(new TidalError('Closed', `the storage soak worker failed: ${event.message}`));
  });
  failed.catch(() => {});
  const soak = Comlink.wrap<OpenBenchWorker>(worker);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TidalError('Timeout', `writing ${EVENTS} events took over ${LIMIT_MS} ms`)), LIMIT_MS);
  });
  try {
    const result = await Promise.race([soak.soak(['tidal-bench', `storage-${crypto.randomUUID()}`], EVENTS, SEED), failed, timedOut]);
    console.log(
      `open-storage: ${result.events} events in ${Math.round(result.ms)} ms: keeps ${result.storageBytes} bytes (${result.snapshots} snapshots, newest ${result.snapshotBytes} bytes; ${result.segments} segments, the open one ${result.openSegmentBytes} bytes), bound ${result.boundBytes}; worst of ${result.checks} checks: ${(result.worstShareOfBound * 100).toFixed(1)} % of its bound`,
    );
    report('storage.bytes_after_10m_events', result.storageBytes, 'bytes');
    report('storage.snapshot_bytes_after_10m_events', result.snapshotBytes, 'bytes');
  } finally {
    clearTimeout(timer);
    soak[Comlink.releaseProxy]();
    worker.terminate();
  }
}
