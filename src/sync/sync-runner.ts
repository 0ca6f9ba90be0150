/**
 * `SyncRunner`: runs a shard's `ShardSync` in the background, offline
 * first: a round every `intervalMs`, one at once on `now()`, and after a
 * failure (the store unreachable, say) exponential backoff with jitter, from
 * 1 s up to `maxBackoffMs`. Writes never wait for it; a round that fails
 * changes nothing that the next round cannot redo.
 *
 *     const runner = new SyncRunner({ sync, clock, intervalMs: 5000 });
 *     runner.start();
 *     await runner.now(); // a round now (e.g. the user pressed "sync")
 *     runner.stop();
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import type { ShardSync } from './shard-sync.js';
import type { ShardSyncStats } from './sync-stats.js';

/** Options of `SyncRunner`. */
export interface SyncRunnerOptions {
  readonly sync: ShardSync;
  readonly clock: Clock;
  /** Between successful rounds. Default 5,000 ms. */
  readonly intervalMs?: number;
  /** Longest wait after failures. Default 60,000 ms. */
  readonly maxBackoffMs?: number;
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
}

/** What a runner reports: its shard's sync stats and its schedule. */
export interface SyncRunnerStats extends ShardSyncStats {
  /** Consecutive failed rounds. */
  readonly failures: number;
  /** When the next round is due (clock ms), if running. */
  readonly nextAt: number | undefined;
}

/** A shard's sync in the background. */
export class SyncRunner {
  private readonly sync: ShardSync;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  private timer: TimerHandle | undefined;
  private nextAt: number | undefined;
  private failures = 0;
  private running = false;

  constructor(options: SyncRunnerOptions) {
    this.sync = options.sync;
    this.clock = options.clock;
    this.intervalMs = options.intervalMs ?? 5000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.random = options.random ?? Math.random;
  }

  /** Starts the rounds (the first one at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops scheduling rounds (a round under way finishes). */
  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
  }

  /** Runs a round now (joining one under way) and answers with the stats after it; rejects with the round's error. */
  async now(): Promise<SyncRunnerStats> {
    this.clock.clearTimeout(this.timer);
    try {
      await this.round();
    } finally {
      if (this.running) this.schedule(this.delay());
    }
    return this.stats();
  }

  stats(): SyncRunnerStats {
    return { ...this.sync.stats, refused: { ...this.sync.stats.refused }, failures: this.failures, nextAt: this.nextAt };
  }

  private async round(): Promise<void> {
    try {
      await this.sync.sync();
      this.failures = 0;
    } catch (error) {
      this.failures++;
      throw error;
    }
  }

  private delay(): number {
    if (this.failures === 0) return this.intervalMs;
    const backoff = Math.min(this.maxBackoffMs, 1000 * 2 ** (this.failures - 1));
    return backoff / 2 + (backoff / 2) * this.random();
  }

  private schedule(ms: number): void {
    this.clock.clearTimeout(this.timer);
    this.nextAt = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.round().then(
        () => this.running && this.schedule(this.delay()),
        () => this.running && this.schedule(this.delay()), // counted in stats.lastError; retried after backoff
      );
    }, ms);
  }
}
