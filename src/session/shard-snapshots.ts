/**
 * `ShardSnapshots`: when a shard's leader snapshots its state, and how a
 * shard opens from its newest snapshot.
 *
 * Opening (`restoreFromSnapshot`): the newest snapshot that verifies
 * (every byte, docs/FORMAT.md §9.3; refused ones are quarantined and
 * reported) is loaded into a fresh state, and only the log after its LSN
 * is replayed. Without one, the whole log is.
 *
 * Taking snapshots (`ShardSnapshots`): after commits, when the policy says
 * so (`logBytes` of log since the last snapshot, or `intervalMs` since it
 * with anything new), at most one at a time. By default `logBytes` follows
 * the state: the newest snapshot's size, at least 1 MiB. So the log an open
 * replays after the snapshot it loads is about as large as that snapshot
 * (an open costs about twice the snapshot, however long the shard lived),
 * snapshots write at most about as many bytes as the log does, and the
 * shard keeps two snapshots and a few MiB of log (docs/FORMAT.md §9.4). The state is encoded at once
 * (a pause proportional to its size, at one LSN), then written in chunks
 * that yield to the event loop, so writes keep being acknowledged while
 * the file is written. The two newest snapshots are kept.
 *
 * Compacting (`compactLog`, after each snapshot and whenever the caller
 * asks): sealed segments wholly below the older kept snapshot are deleted,
 * unless a retention (`Wal.retain`: a follower, device sync) still needs
 * them (docs/FORMAT.md §9.4). Keeping the log from the older snapshot on
 * means that if the newest fails verification, the older one and the log
 * after it still rebuild the state.
 *
 *     const opened = await restoreFromSnapshot({ wal, store, state });
 *     const snapshots = new ShardSnapshots({ wal, store, state, clock });
 *     wal.onCommit(() => snapshots.afterCommit());
 */
import { type Clock, systemClock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import type { SnapshotFileInfo, SnapshotIssue, SnapshotStore } from '../wal/snapshot-store.js';
import type { Wal, WalSegmentInfo } from '../wal/wal.js';
import { encodeShardSnapshot, restoreShardSnapshot } from './shard-snapshot.js';
import type { ShardState } from './shard-state.js';

/** When a leader snapshots its shard. */
export interface SnapshotPolicy {
  /**
   * Snapshot once this many bytes of log were written since the last
   * snapshot. Default: the newest snapshot's size, and at least
   * `MIN_SNAPSHOT_LOG_BYTES` (1 MiB).
   */
  readonly logBytes?: number;
  /** Snapshot once this long passed since the last one, if anything was written. Default 10 minutes. */
  readonly intervalMs?: number;
  /** Snapshots kept (the newest ones). Default 2: if the newest fails verification, the older one still rebuilds the state. */
  readonly keep?: number;
}

/** The least log between two snapshots under the default policy (see `SnapshotPolicy.logBytes`). */
export const MIN_SNAPSHOT_LOG_BYTES = 1024 * 1024;
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 10 * 60_000;
export const DEFAULT_SNAPSHOTS_KEPT = 2;

/** What opening from a snapshot did. */
export interface SnapshotRestore {
  /** The snapshot's LSN (0 when the whole log was replayed). */
  readonly snapshotLsn: number;
  readonly snapshotBytes: number;
  /** The snapshot's file name (empty when the whole log was replayed). */
  readonly snapshotFile: string;
  /** Events replayed from the log after the snapshot. */
  readonly replayedEvents: number;
  /** Milliseconds: loading and verifying the snapshot and decoding it into the state. */
  readonly snapshotMs: number;
  /** Milliseconds: replaying the log after it. */
  readonly replayMs: number;
  /** Snapshots refused (and quarantined) on the way. */
  readonly issues: readonly SnapshotIssue[];
}

/**
 * Fills a fresh `state` from the newest verified snapshot and the log after
 * it. `replay` lets the caller apply the log its own way (yielding, say);
 * by default every event from `fromLsn` is applied. Throws `Corrupt` when
 * the log does not reach back to the snapshot (or to LSN 1 without one).
 */
export async function restoreFromSnapshot(options: {
  wal: Wal;
  store: SnapshotStore;
  state: ShardState;
  now?: () => number;
  replay?: (fromLsn: number) => Promise<void>;
}): Promise<SnapshotRestore> {
  const { wal, store, state } = options;
  const now = options.now ?? (() => performance.now());
  const started = now();
  const { snapshot, issues } = await store.loadNewest({ maxLsn: wal.lastLsn });
  if (snapshot) restoreShardSnapshot(state, snapshot.body, snapshot.lsn);
  const from = (snapshot?.lsn ?? 0) + 1;
  if (from < wal.firstLsn) {
    throw new TidalError(
      'Corrupt',
      `shard ${wal.shard}: the log starts at LSN ${wal.firstLsn}, but ${snapshot ? `the newest snapshot that verifies is at ${snapshot.lsn}` : 'no snapshot verifies'}: LSNs ${from}..${wal.firstLsn - 1} are in none`,
    );
  }
  const loaded = now();
  const before = state.appliedLsn;
  if (options.replay) await options.replay(from);
  else for await (const { lsn, event } of wal.read(from, { verify: false })) state.apply(lsn, event);
  return {
    snapshotLsn: snapshot?.lsn ?? 0,
    snapshotBytes: snapshot?.bytes ?? 0,
    snapshotFile: snapshot?.file ?? '',
    replayedEvents: state.appliedLsn - before,
    snapshotMs: loaded - started,
    replayMs: now() - loaded,
    issues,
  };
}

/** Takes a leader's snapshots by its policy. */
export class ShardSnapshots {
  private readonly wal: Wal;
  private readonly store: SnapshotStore;
  private readonly state: ShardState;
  private readonly clock: Clock;
  /** `SnapshotPolicy.logBytes`, when given; otherwise the threshold follows the newest snapshot's size. */
  private readonly fixedLogBytes: number | undefined;
  private readonly intervalMs: number;
  private readonly keep: number;
  private running: Promise<SnapshotFileInfo | undefined> | undefined;
  private latest: SnapshotFileInfo | undefined;
  /** The snapshots kept, newest first, as last listed (after a write, or `listKept`). */
  private kept: readonly SnapshotFileInfo[] = [];
  private compacting: Promise<WalSegmentInfo[]> | undefined;
  /** Log bytes and time at the last snapshot (or at open). */
  private baseLogBytes: number;
  private baseAt: number;
  private closed = false;
  /** The last snapshot attempt's failure, if it failed (reported in stats; the next attempt may succeed). */
  lastError: unknown;

  constructor(options: {
    wal: Wal;
    store: SnapshotStore;
    state: ShardState;
    clock?: Clock;
    policy?: SnapshotPolicy;
    latest?: SnapshotFileInfo;
  }) {
    this.wal = options.wal;
    this.store = options.store;
    this.state = options.state;
    this.clock = options.clock ?? systemClock;
    this.fixedLogBytes =
      options.policy?.logBytes === undefined ? undefined : integerOption('SnapshotPolicy.logBytes', options.policy.logBytes, { min: 1 });
    this.intervalMs = integerOption('SnapshotPolicy.intervalMs', options.policy?.intervalMs, {
      min: 1,
      default: DEFAULT_SNAPSHOT_INTERVAL_MS,
    });
    this.keep = integerOption('SnapshotPolicy.keep', options.policy?.keep, { min: 1, default: DEFAULT_SNAPSHOTS_KEPT });
    this.latest = options.latest;
    this.baseLogBytes = this.wal.bytesAppended;
    this.baseAt = this.clock.now();
  }

  /** The newest snapshot this shard has (written or loaded), if any. */
  get newest(): SnapshotFileInfo | undefined {
    return this.latest;
  }

  /** Starts a snapshot if the policy says one is due (cheap to call after every commit). */
  afterCommit(): void {
    if (this.running || this.closed) return;
    const grown = this.wal.bytesAppended - this.baseLogBytes;
    const due = grown >= this.logBytesDue() || (grown > 0 && this.clock.now() - this.baseAt >= this.intervalMs);
    if (due) void this.snapshotNow().catch(() => undefined);
  }

  /** Bytes of log after which the next snapshot is due (see `SnapshotPolicy.logBytes`). */
  logBytesDue(): number {
    return this.fixedLogBytes ?? Math.max(MIN_SNAPSHOT_LOG_BYTES, this.latest?.bytes ?? 0);
  }

  /** Takes a snapshot at the state's current LSN now (or joins the one being taken). */
  snapshotNow(): Promise<SnapshotFileInfo | undefined> {
    if (this.closed) return Promise.reject(new TidalError('Closed', `shard ${this.wal.shard}: snapshots are closed`));
    this.running ??= this.take().finally(() => (this.running = undefined));
    return this.running;
  }

  private async take(): Promise<SnapshotFileInfo | undefined> {
    const lsn = this.state.appliedLsn;
    if (lsn === 0 || lsn === this.latest?.lsn) return this.latest;
    // Encoded now, at one LSN: the writes that commit while the file is written are the next snapshot's.
    const body = encodeShardSnapshot(this.state);
    let hlcHigh = 0n;
    for (const [, entity] of this.state.crdt.entityEntries()) if (entity.maxHlc() > hlcHigh) hlcHigh = entity.maxHlc();
    this.baseLogBytes = this.wal.bytesAppended;
    this.baseAt = this.clock.now();
    try {
      const written = await this.store.write({ lsn, hlcHigh, body });
      this.latest = written;
      this.lastError = undefined;
      await this.store.prune(this.keep);
      this.kept = await this.store.list();
      // A compaction that fails leaves the log longer, not wrong: the next one tries again.
      await this.compactLog().catch(() => undefined);
      return written;
    } catch (error) {
      this.lastError = error;
      throw error;
    }
  }

  /** Reads which snapshots are kept (a shard opened from its snapshots calls it once, so `compactLog` knows them). */
  async listKept(): Promise<readonly SnapshotFileInfo[]> {
    this.kept = await this.store.list();
    return this.kept;
  }

  /**
   * The first LSN the log must keep for the snapshots: just past the older
   * of the kept snapshots (0 while fewer than `keep` exist: the whole log
   * is still the fallback).
   */
  get compactionFloor(): number {
    if (this.kept.length < this.keep) return 0;
    return this.kept[this.kept.length - 1]!.lsn + 1;
  }

  /**
   * Deletes the sealed segments below `compactionFloor` that no retention
   * holds (`Wal.compact`); one compaction at a time. Resolves with the
   * segments deleted.
   */
  compactLog(): Promise<WalSegmentInfo[]> {
    const floor = this.compactionFloor;
    const oldest = this.wal.segments()[0];
    if (this.closed || !oldest?.sealed || oldest.lastLsn >= floor || this.compacting) return this.compacting ?? Promise.resolve([]);
    this.compacting = this.wal.compact(floor).finally(() => (this.compacting = undefined));
    return this.compacting;
  }

  /** Resolves once the snapshot being written (if any) and the compaction after it are done; it never rejects. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.compacting?.catch(() => undefined);
  }

  /** Waits for a snapshot being written, and takes no more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    await this.compacting?.catch(() => undefined);
  }
}
