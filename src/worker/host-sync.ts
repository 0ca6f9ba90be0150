/**
 * `HostSync`: device sync of the shard a worker leads (docs/SYNC.md). It
 * starts when the worker takes the lead (the lead's term is the writer
 * epoch in the shard's manifest), and stops when it steps down, steps
 * aside or closes; a runner whose log is no longer the one the worker
 * leads with is stopped when next asked for.
 *
 * The sync code (store client, keys, runner: about a third of the worker)
 * is imported when a database that syncs takes the lead, not with the
 * worker: most databases never sync, and every open starts a worker per
 * shard, each parsing what it was bundled with. The log is retained
 * (`SYNC_RETENTION`) from the moment the worker takes the lead, before the
 * code has loaded: a compaction meanwhile keeps what was not uploaded.
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { SyncRunner } from '../sync/sync-runner.js';
import { SYNC_RETENTION } from '../sync/sync-retention.js';
import type { Wal } from '../wal/wal.js';
import type { ShardRole } from './leadership.js';
import type { ShardHostConfig } from './shard-host-config.js';

/** A started runner and the log it reads. */
interface Running {
  readonly runner: SyncRunner;
  readonly wal: Wal;
}

/**
 * Imports the sync code: a chunk of its own in Vite's and Rollup's ES workers, inlined by esbuild
 * without splitting and by Vite's default IIFE workers. webpack would load its chunk with
 * `importScripts`, which a module worker refuses: `eager` keeps it in webpack's worker chunk.
 */
function importSync() {
  return import(/* webpackMode: "eager" */ './host-sync-code.js');
}

/** The sync modules, loaded once per worker, on first use. */
let modules: ReturnType<typeof importSync> | undefined;

function loadSync(): ReturnType<typeof importSync> {
  modules ??= importSync().catch((cause: unknown) => {
    modules = undefined; // the next lead tries again
    throw new TidalError('Unreachable', 'the shard worker could not load its sync code', {
      cause,
      details: { module: 'sync' },
    });
  });
  return modules;
}

/** The sync of one worker's shard, while it leads it. */
export class HostSync {
  private readonly config: ShardHostConfig;
  private readonly clock: Clock;
  private running: Running | undefined;
  /** The log whose entries sync retains, from the start until the stop (whether or not a runner started). */
  private retained: Wal | undefined;
  /** Grows with every `stop()`: a start that a stop overtook drops what it started. */
  private generation = 0;
  /** The start under way, if any: a round asked for meanwhile waits for it. */
  private starting: Promise<void> | undefined;

  constructor(config: ShardHostConfig, clock: Clock) {
    this.config = config;
    this.clock = clock;
  }

  /**
   * Starts syncing the shard `role` leads (when the database syncs), with the lead's term as writer
   * epoch. The log is retained at once, whole, while the sync code loads and the runner starts (its
   * first round then moves the retention on to what the manifest does not cover). A start that fails
   * lets it go: a log that never syncs must not grow for good, and an uploader that finds its log
   * compacted restarts its chain from a snapshot (docs/SYNC.md §6, step 3). Rejects with `Unreachable` when the
   * worker cannot load its sync code.
   */
  async start(role: ShardRole, term: number): Promise<void> {
    if (!this.config.sync || role.kind !== 'leader') return;
    this.stop();
    role.wal.retain(SYNC_RETENTION, Math.max(1, role.wal.firstLsn));
    this.retained = role.wal;
    const generation = this.generation;
    const starting = this.startRunner(role, term).catch((error: unknown) => {
      if (generation === this.generation) this.stop(); // nothing started: nothing retained
      throw error;
    });
    this.starting = starting;
    try {
      await starting;
    } finally {
      if (this.starting === starting) this.starting = undefined;
    }
  }

  private async startRunner(role: Extract<ShardRole, { kind: 'leader' }>, term: number): Promise<void> {
    if (!this.config.sync) return;
    const generation = this.generation;
    const { startShardSync } = await loadSync();
    if (generation !== this.generation) return; // stopped while the code loaded: nothing started
    const runner = await startShardSync(this.config.sync, {
      database: this.config.db,
      wal: role.wal,
      leader: role.leader,
      shard: this.config.shard,
      shards: this.config.shards,
      term,
      clock: this.clock,
    });
    if (generation !== this.generation)
      runner.stop(); // stopped while it started (the stop released the log)
    else this.running = { runner, wal: role.wal };
  }

  /** Stops the runner and lets compaction go past what it had not uploaded. */
  stop(): void {
    this.generation++;
    this.running?.runner.stop();
    this.running = undefined;
    this.retained?.release(SYNC_RETENTION);
    this.retained = undefined;
  }

  /**
   * The runner once a start under way is done (a shard reads before its sync has started: the sync
   * code may still be loading), while the worker still leads with the log it started with.
   */
  async started(role: () => ShardRole): Promise<SyncRunner | undefined> {
    await this.starting?.catch(() => undefined); // a start that failed has no runner
    return this.runner(role());
  }

  /** The runner, while the worker still leads with the log it started with (`role` is its role now). */
  runner(role: ShardRole): SyncRunner | undefined {
    if (this.running && (role.kind !== 'leader' || role.wal !== this.running.wal)) this.stop(); // stepped down meanwhile
    return this.running?.runner;
  }
}
