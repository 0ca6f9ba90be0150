/**
 * `LeaderStatus`: what a follower last heard of its leader: the leader's
 * last LSN (from its status heartbeats and from the payloads it ships),
 * when a heartbeat last arrived, and the last LSN of the first heartbeat
 * heard, which a replica opened afresh must reach before it answers reads.
 *
 *     status.heard(body.lastLsn, clock.now());           // a status heartbeat
 *     const lsn = await status.whenFirstHeard(10_000);    // Timeout when none comes
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';

/** A follower's view of its leader's progress. */
export class LeaderStatus {
  /** The leader's last LSN, as last heard. */
  lastLsn = 0;
  /** When the leader's last status heartbeat arrived. */
  lastHeardAt = -Infinity;
  /** The leader's last LSN in the first status heard. */
  private firstLsn: number | undefined;
  private heardFirst!: () => void;
  private readonly firstHeard = new Promise<void>((resolve) => (this.heardFirst = resolve));
  private readonly shard: ShardId;
  private readonly clock: Clock;

  constructor(shard: ShardId, clock: Clock) {
    this.shard = shard;
    this.clock = clock;
  }

  /** A status heartbeat saying the leader's log ends at `lastLsn`. */
  heard(lastLsn: number, now: number): void {
    this.saw(lastLsn);
    this.lastHeardAt = now;
    if (this.firstLsn === undefined) {
      this.firstLsn = lastLsn;
      this.heardFirst();
    }
  }

  /** The leader's log reaches at least `lsn` (a payload it shipped). */
  saw(lsn: number): void {
    this.lastLsn = Math.max(this.lastLsn, lsn);
  }

  /** The last LSN of the first heartbeat heard, once one is; `Timeout` when none arrives within `timeoutMs`. */
  async whenFirstHeard(timeoutMs: number): Promise<number> {
    if (this.firstLsn === undefined) {
      let timer: TimerHandle | undefined;
      try {
        await Promise.race([
          this.firstHeard,
          new Promise<never>((_, reject) => {
            timer = this.clock.setTimeout(
              () => reject(new TidalError('Timeout', `follower of shard ${this.shard} has not heard its leader within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        this.clock.clearTimeout(timer);
      }
    }
    return this.firstLsn!;
  }
}
