/**
 * The open suite: how fast a shard opens from its newest snapshot and the
 * log after it, and how much storage it keeps (issue 13).
 *
 * In a dedicated worker (`open.worker.ts`), one shard's log of 1M events of the signal workload (10k entities) is written as a leader
 * writes it, snapshots by the default policy, the log compacted below the
 * older of the two kept snapshots. Then the shard is opened as a new
 * leader opens it: one untimed open, then 3 timed; the median of each step
 * is reported. The files were just written, so the OS page cache is warm.
 * Every open's rebuilt state is compared, byte for byte, with the state
 * the builder ended with: a fast wrong answer fails the suite.
 *
 * - `shard.open.ms_per_1m_events`, `shard.open.ms_per_5m_events`: the whole open
 *   (targets: under 300 ms and 1 s);
 * - `...snapshot_ms_per_<n>m_events`: loading the snapshot, verifying every
 *   byte, decoding it into the state;
 * - `...tail_ms_per_<n>m_events`: `Wal.open`, scanning and verifying every
 *   byte of the log kept;
 * - `...rebuild_ms_per_<n>m_events`: replaying the log after the snapshot;
 * - `storage.bytes_after_<n>m_events`, beside `storage.snapshot_bytes_after_<n>m_events`:
 *   every byte the shard keeps (segments and snapshots).
 *
 * The OPFS folder (`tidal-bench/open-<uuid>/`) is deleted at the end.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import type { OpenBenchWorker, OpenRound } from './open.worker.js';

type Report = (metric: string, value: number, unit: string) => void;

/** 5M is left out for now: building it takes over 10 minutes on the shared machine. */
const SIZES = [1_000_000] as const;
const ROUNDS = 3;
const SEED = 0x0be11;
const WAIT_LIMIT_MS = 300_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Measures the open metrics; see the module comment. */
export async function run(report: Report): Promise<void> {
  const worker = new Worker(new URL('./open.worker.ts', import.meta.url), { type: 'module', name: 'bench open' });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => reject(new TidalError('Closed', `the open bench worker failed: ${event.message}`));
  });
  failed.catch(() => {});
  const remote = Comlink.wrap<OpenBenchWorker>(worker);
  const guarded = async <T>(what: string, call: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TidalError('Timeout', `${what} took longer than ${WAIT_LIMIT_MS} ms`)), WAIT_LIMIT_MS);
    });
    try {
      return await Promise.race([call, failed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    for (const events of SIZES) {
      const m = `${events / 1_000_000}m`;
      const built = await guarded(`building ${events} events`, remote.build(events, SEED));
      console.log(
        `open: built ${events} events in ${Math.round(built.ms)} ms: snapshot at LSN ${built.snapshotLsn} (${built.snapshotBytes} bytes), ${built.segments} segments (${built.logBytes} bytes) kept`,
      );
      report(`storage.bytes_after_${m}_events`, built.storageBytes, 'bytes');
      report(`storage.snapshot_bytes_after_${m}_events`, built.snapshotBytes, 'bytes');
      const rounds: OpenRound[] = [];
      for (let round = 0; round <= ROUNDS; round++) {
        const opened = await guarded(`open round ${round}`, remote.open(events));
        console.log(
          `open: ${m} round ${round}${round === 0 ? ' (warm-up)' : ''}: ${opened.totalMs.toFixed(1)} ms (snapshot ${opened.snapshotMs.toFixed(1)}, tail ${opened.tailMs.toFixed(1)}, rebuild ${opened.rebuildMs.toFixed(1)})`,
        );
        if (round > 0) rounds.push(opened);
      }
      report(`shard.open.ms_per_${m}_events`, median(rounds.map((r) => r.totalMs)), 'ms');
      report(`shard.open.snapshot_ms_per_${m}_events`, median(rounds.map((r) => r.snapshotMs)), 'ms');
      report(`shard.open.tail_ms_per_${m}_events`, median(rounds.map((r) => r.tailMs)), 'ms');
      report(`shard.open.rebuild_ms_per_${m}_events`, median(rounds.map((r) => r.rebuildMs)), 'ms');
    }
  } finally {
    await remote.cleanup().catch(() => undefined);
    remote[Comlink.releaseProxy]();
    worker.terminate();
  }
}
