/**
 * The follower role of the ship suite's worker: a `FollowerDb` on OPFS (its
 * own folder, durable: the library default) applying into a state machine
 * that only records time: `MarkStateMachine` (a no-op but for the time the
 * marked LSN is applied) for throughput, `ApplyTimes` (the time each LSN is
 * applied) for lag.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../../src/common/errors.js';
import { FollowerDb } from '../../../src/replication/follower-db.js';
import type { StateMachine } from '../../../src/replication/state-machine.js';
import { TransportDecorator } from '../../../src/transport/transport-decorator.js';
import { OpfsStorage } from '../../../src/wal/opfs-storage.js';
import type { Value } from '../../../src/wal/payload.js';
import { FOLLOWER, LEADER, SHARD, freshPath, now, openLink, type ShipLink, type ShipRoundResult } from './common.js';

/** Records when one marked LSN is applied; otherwise does nothing (a no-op state machine). */
class MarkStateMachine implements StateMachine {
  appliedAt = 0;
  events = 0;
  private readonly mark: number;
  constructor(mark: number) {
    this.mark = mark;
  }
  apply(lsn: number, _event: Value): void {
    this.events++;
    if (lsn === this.mark) this.appliedAt = now();
  }
}

/** Records when each LSN is applied (for lag). */
class ApplyTimes implements StateMachine {
  times = new Float64Array(1 << 14);
  apply(lsn: number, _event: Value): void {
    if (lsn >= this.times.length) {
      const grown = new Float64Array(Math.max(this.times.length * 2, lsn + 1));
      grown.set(this.times);
      this.times = grown;
    }
    this.times[lsn] = now();
  }
}

/**
 * Measures how long the follower waits for segments: the time from each
 * `recvSegment()` call (FollowerDb is ready for more) to its resolution.
 * Everything else of a round is the follower's own work.
 */
class IdleMeter extends TransportDecorator {
  idleMs = 0;
  private since = 0;
  override async recvSegment() {
    const asked = performance.now();
    const segment = await super.recvSegment();
    this.idleMs += performance.now() - Math.max(asked, this.since);
    return segment;
  }
  /** Counts from now on only. */
  reset(): void {
    this.idleMs = 0;
    this.since = performance.now();
  }
}

let following:
  { db: FollowerDb; path: string[]; mark?: MarkStateMachine; times?: ApplyTimes; meter?: IdleMeter; openedAt?: number } | undefined;

/** Closes the follower and deletes its folder. */
export async function closeFollowing(): Promise<void> {
  const current = following;
  following = undefined;
  if (!current) return;
  await current.db.close();
  await OpfsStorage.destroy(current.path);
}

/** The follower's part of the worker's API. */
export const followerApi = {
  /** Follower: opens a fresh FollowerDb on OPFS over `link`, marking `markLsn`. */
  async openFollower(link: ShipLink, markLsn: number): Promise<void> {
    if (following) throw new TidalError('InvalidArgument', 'a follower is already open');
    const path = freshPath('follower');
    const mark = new MarkStateMachine(markLsn);
    const meter = new IdleMeter(openLink(link, FOLLOWER, LEADER));
    const db = await FollowerDb.open({
      storage: await OpfsStorage.open(path),
      shard: SHARD,
      transport: meter,
      leader: LEADER,
      stateMachine: mark,
    });
    following = { db, path, mark, meter };
  },

  /** Follower: waits until the marked LSN is applied; when it was, and the counters. */
  async followerRound(markLsn: number): Promise<ShipRoundResult> {
    const current = following;
    if (!current?.mark) throw new TidalError('InvalidArgument', 'no throughput follower open');
    current.meter!.reset(); // counted from here: the shipper has just started
    await current.db.whenApplied(markLsn, 120_000);
    const { bytesVerified, payloadsApplied, payloadsRejected, duplicates } = current.db.counters;
    return {
      appliedAt: current.mark.appliedAt,
      bytesVerified,
      payloadsApplied,
      payloadsRejected,
      duplicates,
      idleMs: current.meter!.idleMs,
    };
  },

  /** Follower: closes the FollowerDb and deletes its folder. */
  closeFollower: closeFollowing,

  /** Follower: a fresh FollowerDb on OPFS over `link`, recording each LSN's apply time. */
  async openLagFollower(link: ShipLink): Promise<void> {
    if (following) throw new TidalError('InvalidArgument', 'a follower is already open');
    const path = freshPath('lag-follower');
    const times = new ApplyTimes();
    const db = await FollowerDb.open({
      storage: await OpfsStorage.open(path),
      shard: SHARD,
      transport: openLink(link, FOLLOWER, LEADER),
      leader: LEADER,
      stateMachine: times,
    });
    following = { db, path, times };
  },

  /** Follower: waits for `lastLsn`, then returns each LSN's apply time (index = LSN). */
  async applyTimes(lastLsn: number): Promise<{ applyAt: Float64Array; rejected: number; gaps: number; duplicates: number }> {
    const current = following;
    if (!current?.times) throw new TidalError('InvalidArgument', 'no lag follower open');
    await current.db.whenApplied(lastLsn, 30_000);
    const applyAt = current.times.times.slice(0, lastLsn + 1);
    const { payloadsRejected: rejected, gaps, duplicates } = current.db.counters;
    return Comlink.transfer({ applyAt, rejected, gaps, duplicates }, [applyAt.buffer]);
  },

  /** Follower: closes the lag follower and deletes its folder. */
  closeLagFollower: closeFollowing,
};
