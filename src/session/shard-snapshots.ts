/**
 * `ShardSnapshots`: when a shard's leader snapshots its state (opening
 * from the newest snapshot is `restoreFromSnapshot`, snapshot-restore.ts).
 *
 * Taking snapshots (`ShardSnapshots`): after commits, when the policy says
 * so (`logBytes` of log since the last snapshot, or `intervalMs` since it
 * with anything new), at most one at a time. By default `logBytes` follows
 * the state: the newest snapshot's size, at least 512 KiB. So the log an
 * open replays after the snapshot it loads is at most about as large as
 * that snapshot (an open costs about twice the snapshot, however long the
 * shard lived), and snapshots write at most about as many bytes as the log
 * does. The floor was 1 MiB: for the bench's 400 KiB states an open then
 * replayed up to 2.5 times the snapshot's bytes of log, and replaying an
 * event costs far more than decoding its share of a snapshot. The
 * state is encoded at once (a pause proportional to its size, at one LSN),
 * then written in chunks that yield to the event loop, so writes keep being
 * acknowledged while the file is written. The two newest snapshots are kept.
 *
 * Back-pressure: a snapshot that is still being written once the log since
 * the newest snapshot reaches `overdueLogBytes` (default twice `logBytes`)
 * is overdue, and the log's appends are held (`Wal.holdAppends`) until its
 * file is in place: writes are then acknowledged later rather than let the
 * log grow past what the storage bound allows (docs/FORMAT.md §9.4). A
 * snapshot attempt that failed (reported in `lastError`) holds nothing, so
 * a store that refuses snapshots slows no write.
 *
 * Closing cleanly (`shutdownSnapshot`): once the leader admits no more
 * writes and those admitted settled, a snapshot at the log's last LSN when
 * the tail after the newest snapshot is worth it, waited for at most
 * `closeTimeoutMs`; so that the next open replays no log.
 *
 * Compacting (`compactLog`, after each snapshot and whenever the caller
 * asks): sealed segments wholly below the older kept snapshot are deleted,
 * and those wholly below the newest as well where keeping them would keep
 * more than one sealed segment: the storage bound (two snapshots, one
 * sealed segment and the open one) comes first, the older snapshot's
 * fallback second; an older snapshot the log no longer reaches back to is
 * deleted with it. An older snapshot larger than the newest (a state that
 * shrank) is kept as the newest one's fallback until the next snapshot. Nothing a retention (`Wal.retain`: a follower that has
 * not acknowledged past it, device sync before it uploaded it) still needs
 * is deleted (docs/FORMAT.md §9.4).
 *
 *     const opened = await restoreFromSnapshot({ wal, store, state }); // snapshot-restore.ts
 *     const snapshots = new ShardSnapshots({ wal, store, state, clock });
 *     wal.onCommit(() => snapshots.afterCommit());
 */
import { type Clock, systemClock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import type { SnapshotFileInfo, SnapshotStore } from '../wal/snapshot-store.js';
import type { Wal, WalSegmentInfo } from '../wal/wal.js';
import { encodeShardSnapshot } from './shard-snapshot.js';
import type { ShardState } from './shard-state.js';

/** When a leader snapshots its shard. */
export interface SnapshotPolicy {
  /**
   * Snapshot once this many bytes of log were written since the last
   * snapshot. Default: the newest snapshot's size, and at least
   * `MIN_SNAPSHOT_LOG_BYTES` (512 KiB).
   */
  readonly logBytes?: number;
  /** Snapshot once this long passed since the last one, if anything was written. Default 10 minutes. */
  readonly intervalMs?: number;
  /** Snapshots kept (the newest ones). Default 2: if the newest fails verification, the older one still rebuilds the state (while the log from it is kept, see `compactionFloor`). */
  readonly keep?: number;
  /**
   * A snapshot still being written once this many bytes of log were
   * written since the newest snapshot is overdue: appends wait for it
   * (back-pressure). Default: twice the `logBytes` in force.
   */
  readonly overdueLogBytes?: number;
  /**
   * A clean close (`shutdownSnapshot`) snapshots the shard when at least
   * this many events were logged after the newest snapshot, and at least
   * one per `CLOSE_SNAPSHOT_BYTES_PER_EVENT` bytes of it. Default
   * `CLOSE_SNAPSHOT_MIN_EVENTS` (1024).
   */
  readonly closeMinEvents?: number;
  /** How long a clean close waits for its snapshot before it closes without it. Default `CLOSE_SNAPSHOT_TIMEOUT_MS` (1 s). */
  readonly closeTimeoutMs?: number;
}

/** The least log between two snapshots under the default policy (see `SnapshotPolicy.logBytes`). */
export const MIN_SNAPSHOT_LOG_BYTES = 512 * 1024;
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 10 * 60_000;
export const DEFAULT_SNAPSHOTS_KEPT = 2;
/**
 * The least tail worth a shutdown snapshot: replaying an event costs an
 * open 10–30 µs (11–31 µs measured on memory storage in Node), so 1024
 * events are 11–31 ms of the next open, against about 2 ms of close for a
 * small state (docs/FORMAT.md §9.4).
 */
export const CLOSE_SNAPSHOT_MIN_EVENTS = 1024;
/**
 * A larger state asks for a longer tail: one event per this many bytes of
 * the newest snapshot. In Chromium (bench open, load 3-4) taking a shutdown
 * snapshot of 600 KiB states cost about 160 ns a byte of close (3 shards at
 * once: close 124 ms, 7-47 ms without) and replay 21-30 µs an event of
 * open, so at the threshold the close pays about what one open saves (and
 * every later open saves it again until the next snapshot); a user waits on
 * the open, not the close. 64 bytes took no snapshot for the bench's
 * 400-600 KiB states with their 1-5k-event tails.
 */
export const CLOSE_SNAPSHOT_BYTES_PER_EVENT = 256;
/** How long a clean close waits for its snapshot (`database.ts` gives a shard's whole close 5 s). */
export const CLOSE_SNAPSHOT_TIMEOUT_MS = 1000;

/** What a clean close did about its shutdown snapshot (`ShardSnapshots.shutdownSnapshot`). */
export interface ShutdownSnapshot {
  /**
   * `written`: a snapshot at the log's last LSN is in place; `skipped`:
   * none was needed or allowed (see `detail`); `failed` or `timedOut`: the
   * attempt did not finish, the snapshots before it are intact.
   */
  readonly outcome: 'written' | 'skipped' | 'failed' | 'timedOut';
  /** The newest snapshot's LSN once it is done (0 without one). */
  readonly snapshotLsn: number;
  /** Events logged after that snapshot, which the next open replays. */
  readonly tailEvents: number;
  /** Why it was skipped, or how it failed. */
  readonly detail: string;
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
  /** `SnapshotPolicy.overdueLogBytes`, when given; otherwise twice `logBytesDue()`. */
  private readonly fixedOverdueBytes: number | undefined;
  private running: Promise<SnapshotFileInfo | undefined> | undefined;
  /** Settles once the running snapshot's file is in place (or its write failed): what an overdue snapshot holds appends until. */
  private fileWritten: Promise<unknown> | undefined;
  /** The appends are held for the running snapshot already. */
  private holding = false;
  private latest: SnapshotFileInfo | undefined;
  /** The snapshots kept, newest first, as last listed (after a write, or `listKept`). */
  private kept: readonly SnapshotFileInfo[] = [];
  /** Listings of the kept snapshots started, so that a late one does not overwrite a newer one. */
  private listings = 0;
  private compacting: Promise<WalSegmentInfo[]> | undefined;
  /** Log bytes and time at the last snapshot started (or at open). */
  private baseLogBytes: number;
  private baseAt: number;
  /** Log bytes at the newest snapshot in place (or at open): the log after it is what an open replays. */
  private newestLogBytes: number;
  private closed = false;
  private readonly closeMinEvents: number;
  private readonly closeTimeoutMs: number;
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
    this.fixedOverdueBytes =
      options.policy?.overdueLogBytes === undefined
        ? undefined
        : integerOption('SnapshotPolicy.overdueLogBytes', options.policy.overdueLogBytes, { min: 1 });
    this.closeMinEvents = integerOption('SnapshotPolicy.closeMinEvents', options.policy?.closeMinEvents, {
      min: 1,
      default: CLOSE_SNAPSHOT_MIN_EVENTS,
    });
    this.closeTimeoutMs = integerOption('SnapshotPolicy.closeTimeoutMs', options.policy?.closeTimeoutMs, {
      min: 1,
      default: CLOSE_SNAPSHOT_TIMEOUT_MS,
    });
    this.latest = options.latest;
    this.baseLogBytes = this.wal.bytesAppended;
    this.newestLogBytes = this.baseLogBytes;
    this.baseAt = this.clock.now();
  }

  /** The newest snapshot this shard has (written or loaded), if any. */
  get newest(): SnapshotFileInfo | undefined {
    return this.latest;
  }

  /**
   * Starts a snapshot if the policy says one is due, and holds the log's
   * appends while one is overdue (cheap to call after every commit).
   */
  afterCommit(): void {
    if (this.closed) return;
    if (this.running) {
      if (!this.holding && this.fileWritten && this.wal.bytesAppended - this.newestLogBytes >= this.overdueLogBytes()) {
        this.holding = true;
        this.wal.holdAppends(this.fileWritten);
      }
      return;
    }
    const grown = this.wal.bytesAppended - this.baseLogBytes;
    const due = grown >= this.logBytesDue() || (grown > 0 && this.clock.now() - this.baseAt >= this.intervalMs);
    if (due) void this.snapshotNow().catch(() => undefined);
  }

  /** Bytes of log after which the next snapshot is due (see `SnapshotPolicy.logBytes`). */
  logBytesDue(): number {
    return this.fixedLogBytes ?? Math.max(MIN_SNAPSHOT_LOG_BYTES, this.latest?.bytes ?? 0);
  }

  /** Bytes of log since the newest snapshot past which a snapshot still being written holds appends (`SnapshotPolicy.overdueLogBytes`). */
  overdueLogBytes(): number {
    return this.fixedOverdueBytes ?? 2 * this.logBytesDue();
  }

  /** Takes a snapshot at the state's current LSN now (or joins the one being taken). */
  snapshotNow(): Promise<SnapshotFileInfo | undefined> {
    if (this.closed) return Promise.reject(new TidalError('Closed', `shard ${this.wal.shard}: snapshots are closed`));
    this.running ??= this.take().finally(() => {
      this.running = undefined;
      this.fileWritten = undefined;
      this.holding = false;
    });
    return this.running;
  }

  private async take(): Promise<SnapshotFileInfo | undefined> {
    const lsn = this.state.appliedLsn;
    if (lsn === 0 || lsn === this.latest?.lsn) return this.latest;
    // Encoded now, at one LSN: the writes that commit while the file is written are the next snapshot's.
    const body = encodeShardSnapshot(this.state);
    let hlcHigh = 0n;
    for (const [, entity] of this.state.crdt.entityEntries()) if (entity.maxHlc() > hlcHigh) hlcHigh = entity.maxHlc();
    const logBytes = this.wal.bytesAppended;
    this.baseLogBytes = logBytes;
    this.baseAt = this.clock.now();
    try {
      // A previous attempt that failed holds nothing back: this one must succeed before appends wait for one.
      const write = this.store.write({ lsn, hlcHigh, body });
      if (this.lastError === undefined) this.fileWritten = write;
      const written = await write;
      this.latest = written;
      this.newestLogBytes = logBytes;
      this.lastError = undefined;
      // A state that shrank keeps its older, larger snapshot too: the newest one's only fallback, until the next snapshot
      // replaces it here (the footprint passes twice the newest by the difference meanwhile, docs/FORMAT.md §9.4).
      await this.store.prune(this.keep);
      await this.relist();
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
    return this.relist();
  }

  /**
   * Lists the kept snapshots again. Only the listing started last is kept: one
   * started earlier (the leader's first, in the background) that finishes
   * after a newer one would otherwise put back a list without the snapshots
   * written since, and compaction would see too few to compact past.
   */
  private async relist(): Promise<readonly SnapshotFileInfo[]> {
    const ticket = ++this.listings;
    const listed = await this.store.list();
    if (ticket === this.listings) this.kept = listed;
    return this.kept;
  }

  /**
   * The first LSN the log must keep for the snapshots: 0 (all of it) while
   * fewer than `keep` exist and the log still starts at LSN 1 (the whole
   * log is the fallback). Otherwise just past the older kept snapshot, so
   * that it and the log after it rebuild the state if the newest fails
   * verification; but the log is not kept below the last sealed segment
   * for that, up to just past the newest snapshot: at most one sealed
   * segment is kept besides the open one (the storage bound,
   * docs/FORMAT.md §9.4).
   */
  get compactionFloor(): number {
    if (this.kept.length === 0 || (this.kept.length < this.keep && this.wal.firstLsn <= 1)) return 0;
    // Fewer than `keep` once an older snapshot the log no longer reached was deleted: none but the newest rebuilds.
    const fallback = this.kept.length < this.keep ? 0 : this.kept[this.kept.length - 1]!.lsn + 1;
    const newest = this.kept[0]!.lsn + 1;
    const segments = this.wal.segments();
    let lastSealedBase = 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      if (segments[i]!.sealed) {
        lastSealedBase = segments[i]!.baseLsn;
        break;
      }
    }
    return Math.max(fallback, Math.min(newest, lastSealedBase));
  }

  /**
   * Deletes the sealed segments below `compactionFloor` that no retention
   * holds (`Wal.compact`), then the older snapshots the log no longer
   * reaches back to (they could rebuild nothing); one compaction at a
   * time. Resolves with the segments deleted.
   */
  compactLog(): Promise<WalSegmentInfo[]> {
    const floor = this.compactionFloor;
    const oldest = this.wal.segments()[0];
    if (this.closed || !oldest?.sealed || oldest.lastLsn >= floor || this.compacting) return this.compacting ?? Promise.resolve([]);
    this.compacting = this.wal
      .compact(floor)
      .then(async (removed) => {
        if (this.kept.some((s, i) => i > 0 && s.lsn + 1 < this.wal.firstLsn)) {
          await this.store.pruneBefore(this.wal.firstLsn - 1);
          await this.relist();
        }
        return removed;
      })
      .finally(() => (this.compacting = undefined));
    return this.compacting;
  }

  /** Resolves once the snapshot being written (if any) and the compaction after it are done; it never rejects. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.compacting?.catch(() => undefined);
  }

  /**
   * The shutdown snapshot of a clean close, then `close`. Called once the
   * leader admits no more writes and those it admitted are settled
   * (`ShardLeader.close`), before the log closes and the lead is let go.
   * It snapshots the shard at the log's last LSN when the tail after the
   * newest snapshot is worth it (`SnapshotPolicy.closeMinEvents`), unless
   * `refusal` says why not (the lead in doubt, storage that refused the
   * last append), the log failed, or the state is not at the log's end.
   * It waits at most `closeTimeoutMs`; a snapshot that fails or takes
   * longer leaves the older ones intact, and is reported, not thrown.
   */
  async shutdownSnapshot(refusal?: string): Promise<ShutdownSnapshot> {
    const outcome = await this.shutdownOutcome(refusal);
    // A write that took too long goes on unwaited for (it renames into place, or leaves a `.tmp` the next prune removes).
    if (outcome.outcome === 'timedOut') this.closed = true;
    else await this.close();
    return outcome;
  }

  private async shutdownOutcome(refusal: string | undefined): Promise<ShutdownSnapshot> {
    const report = (outcome: ShutdownSnapshot['outcome'], detail: string): ShutdownSnapshot => {
      const snapshotLsn = this.latest?.lsn ?? 0;
      return { outcome, snapshotLsn, tailEvents: this.wal.lastLsn - snapshotLsn, detail };
    };
    if (this.closed) return report('skipped', 'snapshots are closed');
    if (refusal !== undefined) return report('skipped', refusal);
    await this.settled();
    try {
      await this.wal.flush();
    } catch (error) {
      return report('skipped', `the log failed: ${String(error)}`);
    }
    if (this.state.appliedLsn !== this.wal.lastLsn) {
      return report('skipped', `the state is at LSN ${this.state.appliedLsn}, the log at ${this.wal.lastLsn}`);
    }
    const tail = this.wal.lastLsn - (this.latest?.lsn ?? 0);
    const worth = Math.max(this.closeMinEvents, Math.ceil((this.latest?.bytes ?? 0) / CLOSE_SNAPSHOT_BYTES_PER_EVENT));
    if (tail < worth) return report('skipped', `${tail} events after the newest snapshot, fewer than ${worth}`);
    let timer: unknown;
    const timedOut = new Promise<'timedOut'>((resolve) => (timer = this.clock.setTimeout(() => resolve('timedOut'), this.closeTimeoutMs)));
    try {
      const done = await Promise.race([this.snapshotNow().then(() => 'written' as const), timedOut]);
      return report(done, done === 'timedOut' ? `not written within ${this.closeTimeoutMs} ms` : "at the log's last LSN");
    } catch (error) {
      return report('failed', String(error));
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** Waits for a snapshot being written, and takes no more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    await this.compacting?.catch(() => undefined);
  }
}
