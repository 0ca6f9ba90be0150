/**
 * The open suite: how long a user waits for `openTidal` on a database whose
 * OPFS already holds 1M and 5M events (issue 13), step by step.
 *
 * The database (4 shards, OPFS, `durability: 'flush'`, the signal workload:
 * 80 % counter increments, 20 % label sets over 10k entities) is written
 * beforehand by `open.worker.ts` in a dedicated worker: the history an
 * open never reads (below the older snapshot a shard keeps) applied to each
 * shard's state as its leader logs it and written as a snapshot, then the
 * last 300k events through the shard API as each shard's leader writes
 * them (`ShardLeader.writeBatch`, 4,000 writes a tick, each write one
 * event), with snapshots by the default policy and the log compacted after
 * each; not through the page API (which would take many times longer to
 * write 5M events). Then this page opens
 * it with `openTidal`, as a user's tab would: one untimed open, then 3
 * timed ones, each closed before the next; medians are reported. The 5M
 * database is the 1M one written on to 5M.
 *
 * The workers are started from the shard worker bundled into one module, as
 * an application's build ships it (`openTidal({ createWorker })`, the bundle
 * served by bench/runner/server.mjs), not from the dev server's ~95 source
 * modules: a new worker fetches those one import at a time, which took 3-5 s
 * of each open at load 9-12 (before the first shard could take its lock),
 * a cost of development, not of tidal.
 *
 * The files were just written, so **the OS page cache is warm**: these are
 * figures for a reopen, not for a cold start after a reboot.
 *
 * - `db.open.ms_per_1m_events`, `db.open.ms_per_5m_events`: from the call
 *   to `openTidal` until it resolved and a `get` of the most written key
 *   answered (targets: under 300 ms and 1 s);
 * - `db.open.tail_ms_per_<n>m_events`: opening the log: scanning and
 *   verifying (BLAKE3) every byte of the segments kept;
 * - `db.open.snapshot_ms_per_<n>m_events`: loading the newest snapshot,
 *   verifying every byte, decoding it into the state;
 * - `db.open.rebuild_ms_per_<n>m_events`: replaying the log after the
 *   snapshot.
 *
 * The shards open in parallel, one worker each; each step's figure is the
 * slowest shard's (`stats().shards[k].opened`), so the three do not add up
 * to the whole, which also holds starting the workers, the leader election
 * and the `get`. After every round the whole state is checked: every
 * shard's LSN against the events written, and all 10k entities (by `scan`)
 * against what the writes must produce. A fast wrong answer fails.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import { openTidal, type ShardStats } from '../../src/index.js';
import {
  checkEventCount,
  checkState,
  deleteDatabase,
  describeShards,
  ExpectedState,
  restartNote,
  signalWrites,
  whenSettled,
  type SignalWrite,
} from './db.js';
import type { OpenBenchWorker } from './open.worker.js';

type Report = (metric: string, value: number, unit: string) => void;

const SHARDS = 4;
const SIZES = [1_000_000, 5_000_000] as const;
const ROUNDS = 3;
const SEED = 0x0be11;
const BUILD_LIMIT_MS = 900_000;
/** `npm run bench -- open --profile` (see the module comment). */
const profiling = new URLSearchParams(location.search).get('profile') === '1';

/**
 * The shard worker as an application ships it: bundled as Vite bundles an
 * ES worker, its entry plus the sync chunk it loads only for a database that
 * syncs (served by the bench's server, bench/runner/server.mjs), not the dev
 * server's ~95 source modules, which a new worker fetches one import at a time.
 */
const BUNDLED_SHARD_WORKER = '/@bench/shard-host.worker.js';
function bundledShardWorker(shard: number): Worker {
  return new Worker(BUNDLED_SHARD_WORKER, { type: 'module', name: `bench open shard ${shard}` });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function* firstWrites(seed: number, count: number): Generator<SignalWrite> {
  const writes = signalWrites(seed);
  for (let i = 0; i < count; i++) yield writes.next().value;
}

/** One timed open: the whole, and each step's slowest shard. */
interface OpenRound {
  readonly ms: number;
  readonly tailMs: number;
  readonly snapshotMs: number;
  readonly rebuildMs: number;
  readonly replayedEvents: number;
}

function slowest(shards: readonly ShardStats[], step: 'tailMs' | 'snapshotMs' | 'rebuildMs' | 'replayedEvents'): number {
  return Math.max(
    ...shards.map((s) => {
      if (!s.opened) throw new TidalError('Corrupt', `shard ${s.shard} is ${s.role} here, not led: it was not opened from OPFS`);
      return s.opened[step];
    }),
  );
}

/** One open of `name` until `probe` answered, CPU-profiled in the page and every shard worker (the runner's tab 0). */
async function profiledOpen(name: string, probe: string, m: string): Promise<void> {
  const tabs = window.__tidalBenchTabs;
  if (!tabs) throw new TidalError('InvalidArgument', '`--profile` needs `npm run bench` (bench/run.mjs profiles the page)');
  await tabs({ op: 'profile-start', tab: 0 });
  const db = await openTidal({ name, shards: SHARDS, storage: 'opfs', durability: 'flush', createWorker: bundledShardWorker });
  try {
    await db.get(probe);
    await tabs({ op: 'profile-stop', tab: 0, label: `open-${m}` });
  } finally {
    await db.close();
  }
}

/** Measures the open metrics; see the module comment. */
export async function run(report: Report): Promise<void> {
  const name = `bench-open-${crypto.randomUUID()}`;
  const worker = new Worker(new URL('./open.worker.ts', import.meta.url), { type: 'module', name: 'bench open builder' });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => reject(new TidalError('Closed', `the open bench worker failed: ${event.message}`));
  });
  failed.catch(() => {});
  const builder = Comlink.wrap<OpenBenchWorker>(worker);
  try {
    // Bundled on the first request: before any open is timed.
    const bundle = await fetch(BUNDLED_SHARD_WORKER);
    if (!bundle.ok) throw new TidalError('Closed', `the bundled shard worker did not load: HTTP ${bundle.status}`);
    await bundle.arrayBuffer();
    for (const events of SIZES) {
      const m = `${events / 1_000_000}m`;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TidalError('Timeout', `building ${events} events took over ${BUILD_LIMIT_MS} ms`)),
          BUILD_LIMIT_MS,
        );
      });
      const built = await Promise.race([builder.extend(name, SHARDS, events, SEED), failed, timedOut]).finally(() => clearTimeout(timer));
      console.log(
        `open: wrote up to ${events} events (${built.lsns.join(' + ')}) in ${Math.round(built.ms)} ms; per shard snapshot at LSN / bytes / log kept: ${built.shards.map((s) => `${s.snapshotLsn} / ${s.snapshotBytes} / ${s.logBytes}`).join(', ')}`,
      );
      const expected = new ExpectedState().add(firstWrites(SEED, events));
      // The key asked for: the most written one, so a wrong count cannot pass by chance.
      let probe = '';
      let most = -1;
      for (const [key, entity] of expected.entities) {
        const writes = [...entity.counters.values()].reduce((a, b) => a + b, 0);
        if (writes > most) [probe, most] = [key, writes];
      }
      const rounds: OpenRound[] = [];
      for (let round = 0; round <= ROUNDS; round++) {
        const where = `${m} open round ${round}`;
        const started = performance.now();
        const db = await openTidal({ name, shards: SHARDS, storage: 'opfs', durability: 'flush', createWorker: bundledShardWorker });
        try {
          const entity = await db.get(probe);
          const ms = performance.now() - started;
          try {
            expected.check(probe, entity, where);
            await whenSettled(db, 'leader');
            await checkEventCount(db, events, where);
            await checkState(db, expected, where);
          } catch (error) {
            throw new TidalError(
              'Corrupt',
              `${error instanceof Error ? error.message : String(error)}; the shards now: ${await describeShards(db)}`,
              {
                cause: error,
              },
            );
          }
          const { shards } = await db.stats();
          const opened: OpenRound = {
            ms,
            tailMs: slowest(shards, 'tailMs'),
            snapshotMs: slowest(shards, 'snapshotMs'),
            rebuildMs: slowest(shards, 'rebuildMs'),
            replayedEvents: slowest(shards, 'replayedEvents'),
          };
          console.log(
            `open: ${where}${round === 0 ? ' (warm-up)' : ''}: ${ms.toFixed(1)} ms; per shard tail / snapshot / rebuild ms (events replayed): ${shards
              .map(
                (s) =>
                  `${s.opened!.tailMs.toFixed(1)} / ${s.opened!.snapshotMs.toFixed(1)} / ${s.opened!.rebuildMs.toFixed(1)} (${s.opened!.replayedEvents})`,
              )
              .join(', ')}${await restartNote(db)}`,
          );
          if (round > 0) rounds.push(opened);
        } finally {
          await db.close();
        }
      }
      if (profiling) await profiledOpen(name, probe, m);
      report(`db.open.ms_per_${m}_events`, median(rounds.map((r) => r.ms)), 'ms');
      report(`db.open.tail_ms_per_${m}_events`, median(rounds.map((r) => r.tailMs)), 'ms');
      report(`db.open.snapshot_ms_per_${m}_events`, median(rounds.map((r) => r.snapshotMs)), 'ms');
      report(`db.open.rebuild_ms_per_${m}_events`, median(rounds.map((r) => r.rebuildMs)), 'ms');
    }
  } finally {
    builder[Comlink.releaseProxy]();
    worker.terminate();
    await deleteDatabase(name);
  }
}
