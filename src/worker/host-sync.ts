/**
 * `HostSync`: device sync of the shard a worker leads (docs/SYNC.md). It
 * starts when the worker takes the lead (the lead's term is the writer
 * epoch in the shard's manifest), and stops when it steps down, steps
 * aside or closes; a runner whose log is no longer the one the worker
 * leads with is stopped when next asked for.
 */
import type { Clock } from '../common/clock.js';
import { startShardSync } from '../sync/device-sync.js';
import { SYNC_RETENTION } from '../sync/leader-sync-log.js';
import type { SyncRunner } from '../sync/sync-runner.js';
import type { Wal } from '../wal/wal.js';
import type { ShardRole } from './leadership.js';
import type { ShardHostConfig } from './shard-host-config.js';

/** The sync of one worker's shard, while it leads it. */
export class HostSync {
  private readonly config: ShardHostConfig;
  private readonly clock: Clock;
  private running: { readonly runner: SyncRunner; readonly wal: Wal } | undefined;

  constructor(config: ShardHostConfig, clock: Clock) {
    this.config = config;
    this.clock = clock;
  }

  /** Starts syncing the shard `role` leads (when the database syncs), with the lead's term as writer epoch. */
  async start(role: ShardRole, term: number): Promise<void> {
    if (!this.config.sync || role.kind !== 'leader') return;
    this.stop();
    const runner = await startShardSync(this.config.sync, {
      database: this.config.db,
      wal: role.wal,
      leader: role.leader,
      shard: this.config.shard,
      shards: this.config.shards,
      term,
      clock: this.clock,
    });
    this.running = { runner, wal: role.wal };
  }

  /** Stops the runner and lets compaction go past what it had not uploaded. */
  stop(): void {
    this.running?.runner.stop();
    this.running?.wal.release(SYNC_RETENTION);
    this.running = undefined;
  }

  /** The runner, while the worker still leads with the log it started with (`role` is its role now). */
  runner(role: ShardRole): SyncRunner | undefined {
    if (this.running && (role.kind !== 'leader' || role.wal !== this.running.wal)) this.stop(); // stepped down meanwhile
    return this.running?.runner;
  }
}
