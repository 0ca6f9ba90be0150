/**
 * `Wal`: one shard's write-ahead log on a `WalStorage`.
 *
 *     const { wal, report } = await Wal.open(storage, { shard: 3 });
 *     const range = await wal.append([{ op: 'increment', key: 'a' }]); // { first, last } LSNs
 *     for await (const { lsn, event } of wal.read(1)) ...
 *     await wal.close();
 *
 * `Wal` is the front; each idea behind it has its own module:
 * - recovery.ts: what opening does (two passes and the quarantine), and
 *   the report it returns;
 * - group-commit.ts: appends issued in the same tick share one batch, one
 *   storage write, one flush; in durable mode (the default) an append
 *   resolves only after the flush;
 * - segment-log.ts: the segments, and writing at their end (segments roll
 *   at a size bound; a sealed segment is never written again);
 * - follower-import.ts: a follower's copy of its leader's log, byte for byte;
 * - log-reader.ts: reading committed batches and sealed segments back;
 * - read-handles.ts: the cache of handles of sealed segments being read;
 * - retention.ts: who still needs which LSNs, which compaction respects.
 */
import { loadBlake3, type Blake3, type IncrementalBlake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import { assertShardId, type ShardId } from '../shard/shard-id.js';
import { BATCH_HEADER_V2_BYTES, fillBatchHeaderV2, MAX_LSN, SEGMENT_FOOTER_BYTES, SEGMENT_HEADER_BYTES } from './format.js';
import { importBatches, importSealedSegment, type CommittedBatch, type ImportContext } from './follower-import.js';
import { GroupCommit } from './group-commit.js';
import { LogReader, type WalBatch } from './log-reader.js';
import { decodePayload, type Value } from './payload.js';
import { ReadHandleCache } from './read-handles.js';
import { recoverSegments, type RecoveryReport } from './recovery.js';
import { Retentions } from './retention.js';
import { SegmentLog, type LsnRange, type RecoveredSegments } from './segment-log.js';
import type { WalSegmentId } from './segment-id.js';
import type { WalStorage } from './storage.js';

export type { CommittedBatch } from './follower-import.js';
export type { RecoveryIssue, RecoveryReport } from './recovery.js';
export type { LsnRange } from './segment-log.js';
export type { WalBatch } from './log-reader.js';

/** Options of `Wal.open`. */
export interface WalOptions {
  /** The shard whose log this is. */
  readonly shard: ShardId;
  /** Resolve appends only after the batch is flushed to storage. Default `true`. */
  readonly durable?: boolean;
  /** Segment size bound in bytes, header and footer included. Default 4 MiB. */
  readonly segmentBytes?: number;
  /** Largest payload of one batch; a single `append` larger than this is refused. Default 16 MiB. */
  readonly maxBatchBytes?: number;
  /** Stamps batches and segments with an HLC (see docs/FORMAT.md §4). Default: wall-clock ms << 16. */
  readonly hlc?: () => bigint;
  /**
   * What opening reads and verifies. `'all'` (the default): every segment.
   * `'after-snapshot'`: sealed segments wholly at or below the shard's
   * newest snapshot file (by its name) are not read at open; each is
   * verified in full the first time it is read (a replay from an older
   * snapshot, a follower catching up), and fails that read with `Corrupt`
   * if it does not verify. An open that replays only what follows its
   * snapshot reads only that.
   */
  readonly verifyAtOpen?: 'all' | 'after-snapshot';
}

/** Options of `Wal.read` and `Wal.readBatches`. */
export interface WalReadOptions {
  /** Check every batch digest as it is read. Default `true`. */
  readonly verify?: boolean;
}

/** A segment of the log as the WAL tracks it. */
export interface WalSegmentInfo {
  /** The segment's identity (and file name). */
  readonly id: WalSegmentId;
  /** LSN of the segment's first event (or of the next one, while empty). */
  readonly baseLsn: number;
  /** baseLsn − 1 when empty. */
  readonly lastLsn: number;
  /** True once the segment has its footer and takes no more batches. */
  readonly sealed: boolean;
  /** The segment file's size in bytes. */
  readonly bytes: number;
}

const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024;

const wallClockHlc = (): bigint => BigInt(Date.now()) << 16n;

/** Refuses sizes out of range with `InvalidArgument`, naming the option. */
function checkOptions(options: WalOptions): void {
  assertShardId(options.shard, 'WalOptions.shard');
  const minSegmentBytes = SEGMENT_HEADER_BYTES + SEGMENT_FOOTER_BYTES + BATCH_HEADER_V2_BYTES + 1;
  integerOption('WalOptions.segmentBytes', options.segmentBytes, { min: minSegmentBytes, max: 0xffffffff, default: minSegmentBytes });
  integerOption('WalOptions.maxBatchBytes', options.maxBatchBytes, { min: 1, max: 0xffffffff, default: 1 });
  if (options.verifyAtOpen !== undefined && options.verifyAtOpen !== 'all' && options.verifyAtOpen !== 'after-snapshot')
    throw new TidalError(
      'InvalidArgument',
      `WalOptions.verifyAtOpen must be 'all' or 'after-snapshot', got ${String(options.verifyAtOpen)}`,
    );
}

/** One shard's write-ahead log. */
export class Wal {
  /** The shard this log belongs to. */
  readonly shard: ShardId;
  /** Whether a commit waits for the storage flush (`WalOptions.durable`, default `true`). */
  readonly durable: boolean;
  private readonly hlc: () => bigint;
  private readonly log: SegmentLog;
  private readonly commits: GroupCommit;
  private readonly readHandles: ReadHandleCache;
  private readonly reader: LogReader;
  private readonly importContext: ImportContext;
  private readonly commitListeners = new Set<(batch: CommittedBatch) => void>();
  private readonly retentions = new Retentions();
  private closed = false;
  private readonly b3: Blake3;

  private constructor(storage: WalStorage, b3: Blake3, options: WalOptions, recovered: RecoveredSegments, activeDigest: IncrementalBlake3) {
    this.b3 = b3;
    this.shard = options.shard;
    this.durable = options.durable ?? true;
    this.hlc = options.hlc ?? wallClockHlc;
    this.log = new SegmentLog(storage, b3, activeDigest, recovered, {
      shard: options.shard,
      segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      hlc: this.hlc,
    });
    this.commits = new GroupCommit(
      {
        assertUsable: () => this.assertUsable(),
        commitBatch: (batch, eventCount, committed) => this.commitBatch(batch, eventCount, committed),
        afterCommit: () => this.log.turnWhileOpening(),
      },
      options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
    );
    this.readHandles = new ReadHandleCache(storage);
    this.readHandles.adopt(this.log.segments);
    this.reader = new LogReader(this.log, this.readHandles, b3);
    this.importContext = { storage, b3, log: this.log, durable: this.durable, notify: (batch) => this.notify(batch) };
  }

  /**
   * Opens the shard's log on `storage`, recovering it: every segment is
   * verified, a torn tail is cut, damaged segments are quarantined. The
   * report says what was found.
   */
  static async open(
    storage: WalStorage,
    options: WalOptions,
  ): Promise<{
    /** The opened log, ready for appends. */
    wal: Wal;
    /** What recovery verified, cut and quarantined. */
    report: RecoveryReport;
  }> {
    checkOptions(options);
    const b3 = await loadBlake3();
    const { recovered, report } = await recoverSegments(storage, b3, options.shard, {
      deferBelowSnapshot: options.verifyAtOpen === 'after-snapshot',
    });
    return { wal: new Wal(storage, b3, options, recovered, await b3.incremental()), report };
  }

  /** The LSN the next appended event will get. */
  get nextLsn(): number {
    return this.log.nextLsn;
  }

  /** The last committed LSN (0 when the log is empty). */
  get lastLsn(): number {
    return this.log.nextLsn - 1;
  }

  /**
   * The first LSN the log holds: 1, or later once segments covered by a
   * snapshot were compacted away (`compact`). `nextLsn` when it holds none.
   */
  get firstLsn(): number {
    const first = this.log.segments[0];
    return first ? Math.min(first.baseLsn, this.log.nextLsn) : this.log.nextLsn;
  }

  /**
   * Holds back compaction for `holder` (a follower, sync, a reader): the log
   * keeps every LSN from `fromLsn` on until the holder moves its retention
   * forward or releases it. The lowest retention wins.
   */
  retain(holder: string, fromLsn: number): void {
    this.retentions.retain(holder, fromLsn);
  }

  /** Drops `holder`'s retention (see `retain`). */
  release(holder: string): void {
    this.retentions.release(holder);
  }

  /** The retentions in force: holder → the first LSN it still needs. */
  retained(): ReadonlyMap<string, number> {
    return this.retentions.all;
  }

  /**
   * Deletes sealed segments whose every LSN is below `beforeLsn` and below
   * every retention (`retain`): call it with a snapshot's LSN + 1 once the
   * snapshot is in place. The last segment is never deleted. Runs after
   * the appends issued before it; resolves with the segments deleted.
   */
  compact(beforeLsn: number): Promise<WalSegmentInfo[]> {
    return this.commits.afterPending(async () => {
      this.assertUsable();
      const removed = await this.log.removeBefore(this.retentions.floor(beforeLsn), (segment) => this.readHandles.release(segment));
      return removed.map((s) => ({
        id: s.id,
        baseLsn: s.baseLsn,
        lastLsn: s.lastLsn,
        sealed: true,
        bytes: s.dataEnd + SEGMENT_FOOTER_BYTES,
      }));
    });
  }

  /**
   * Starts the log over after `lsn`, deleting every segment: what a
   * follower does when it installs a snapshot at `lsn` that its leader
   * shipped (the log it held is older than the snapshot, or empty). The
   * log then holds no LSN, and continues at `lsn + 1`. `lsn` must be past
   * the log's last LSN. Runs after the appends issued before it.
   */
  restartAfter(lsn: number): Promise<void> {
    return this.commits.afterPending(async () => {
      this.assertUsable();
      if (!Number.isSafeInteger(lsn) || lsn <= this.lastLsn || lsn > MAX_LSN) {
        throw new TidalError('InvalidArgument', `restartAfter: LSN ${lsn} must be past the log's last LSN ${this.lastLsn}`);
      }
      try {
        await this.log.restartAfter(lsn, (segment) => this.readHandles.release(segment), this.durable);
      } catch (error) {
        throw this.log.fail(error);
      }
    });
  }

  /**
   * Back-pressure: appends not yet written wait until `until` settles
   * before their batch is written, and are acknowledged only then. A
   * snapshot policy holds the log this way while a snapshot it needs is
   * overdue, so that the log does not outgrow its storage bound
   * (`ShardSnapshots`). What is queued after a held batch (a compaction,
   * a flush) runs once that batch is written.
   */
  holdAppends(until: Promise<unknown>): void {
    this.commits.hold(until);
  }

  /** Bytes of batches appended (or imported) since the log was opened: what a snapshot policy counts (compaction does not lower it). */
  get bytesAppended(): number {
    return this.log.bytesAppended;
  }

  /** Bytes of log the storage holds for this shard (every segment, headers and footers included). */
  logBytes(): number {
    let bytes = 0;
    for (const s of this.log.segments) bytes += s.dataEnd + (s.sealed ? SEGMENT_FOOTER_BYTES : 0);
    return bytes;
  }

  /** The segments of the log, oldest first. */
  segments(): WalSegmentInfo[] {
    return this.log.segments.map((s) => ({
      id: s.id,
      baseLsn: s.baseLsn,
      lastLsn: s.lastLsn,
      sealed: s.sealed,
      bytes: s.dataEnd + (s.sealed ? SEGMENT_FOOTER_BYTES : 0),
    }));
  }

  /** LSN ranges the log lost to damage (see the recovery report). */
  missingRanges(): readonly LsnRange[] {
    return this.log.gaps;
  }

  private assertUsable(): void {
    if (this.closed) throw new TidalError('Closed', `the WAL of shard ${this.shard} is closed`);
    const failure = this.log.failure;
    if (failure) {
      throw new TidalError('StorageError', `the WAL of shard ${this.shard} failed earlier and must be reopened: ${failure.message}`, {
        cause: failure,
      });
    }
  }

  /**
   * Appends events; resolves with their LSN range once the batch holding
   * them is written (and flushed, when durable). Events issued in the same
   * tick share one batch. Throws `Unencodable` at once for a value the
   * payload encoding refuses (nothing of the call is appended), and
   * `PayloadTooLarge` for more than `maxBatchBytes` of encoded events.
   * `committed`, when given, gets the range as soon as the batch is
   * committed, before the commit listeners (the shippers) are told and
   * before the promise resolves (`GroupCommit.append`).
   */
  append(events: readonly Value[], committed?: (range: LsnRange) => void): Promise<LsnRange> {
    try {
      this.assertUsable();
      if (!Array.isArray(events)) throw new TidalError('InvalidArgument', 'append takes an array of events');
      if (events.length === 0) return Promise.resolve({ first: this.log.nextLsn, last: this.log.nextLsn - 1 });
      return this.commits.append(events, committed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends one batch already encoded (`GroupCommit.appendEncoded`):
   * `batch` is `BATCH_HEADER_V2_BYTES` of room for the header, then the
   * payload (`encodePayload`'s form) of `eventCount` events. Its bytes are
   * written in place, not copied: a large event built around bytes the
   * caller holds (a state import) costs no copy before the write. The
   * header and digest are filled in at commit, over exactly these bytes.
   */
  appendEncoded(batch: Uint8Array, eventCount: number, committed?: (range: LsnRange) => void): Promise<LsnRange> {
    try {
      this.assertUsable();
      return this.commits.appendEncoded(batch, eventCount, committed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The group commit's write: one batch at the end of the log, flushed in durable mode. */
  private async commitBatch(batch: Uint8Array, eventCount: number, committed: (firstLsn: number) => void): Promise<number> {
    const firstLsn = this.log.nextLsn;
    if (firstLsn + eventCount - 1 > MAX_LSN) throw new TidalError('LengthOutOfBounds', `shard ${this.shard} has run out of LSNs`);
    fillBatchHeaderV2(this.b3, batch, { shard: this.shard, eventCount, firstLsn, hlc: this.hlc() });
    const segment = await this.log.appendBatch(batch, firstLsn, eventCount, this.durable);
    committed(firstLsn);
    this.notify({ segment, firstLsn, lastLsn: firstLsn + eventCount - 1, bytes: batch });
    return firstLsn;
  }

  /**
   * Appends batches that another replica's log already holds, byte for
   * byte (a follower's copy of its leader's log). Each must be a whole,
   * verified batch (`decodeBatch` of the received bytes) continuing this
   * log's LSNs exactly; its bytes, digest and HLC are kept as they are.
   * Runs after the appends before it and flushes once (durable mode).
   */
  importBatches(batches: readonly Uint8Array[]): Promise<LsnRange> {
    return this.commits.afterPending(async () => {
      this.assertUsable();
      return importBatches(this.importContext, batches);
    });
  }

  /**
   * Adds a whole sealed segment of another replica's log (a follower's copy
   * of its leader's), byte for byte, in one write. The caller must have
   * verified `bytes` against the footer digest (FollowerDb does, on
   * receipt); here they are walked for structure. The segment must start at
   * this log's next LSN, and the log must be at a segment boundary (its
   * last segment sealed, or open with nothing in it); otherwise
   * `HeaderMismatch`, and the caller imports the batches one by one.
   */
  importSealedSegment(id: WalSegmentId, bytes: Uint8Array): Promise<LsnRange> {
    return this.commits.afterPending(async () => {
      this.assertUsable();
      return importSealedSegment(this.importContext, id, bytes);
    });
  }

  /**
   * Calls `listener` after each batch is committed (written, and flushed in
   * durable mode), with a view of its bytes that is valid only during the
   * call: copy what you keep. Returns a function that removes the listener.
   */
  onCommit(listener: (batch: CommittedBatch) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private notify(batch: CommittedBatch): void {
    for (const listener of this.commitListeners) {
      try {
        listener(batch);
      } catch {
        // A listener's failure is its own; the commit stands.
      }
    }
  }

  /** Resolves once every append issued before the call is committed. */
  async flush(): Promise<void> {
    await this.commits.settle();
    this.assertUsable();
  }

  /**
   * Committed batches from the one holding `fromLsn` on, each verified unless `verify: false`.
   * Below the log's first LSN (compacted into a snapshot) it throws `Compacted`.
   */
  async *readBatches(fromLsn = 1, options: WalReadOptions = {}): AsyncGenerator<WalBatch> {
    this.assertUsable();
    if (!Number.isSafeInteger(fromLsn) || fromLsn < 1)
      throw new TidalError('InvalidArgument', `fromLsn must be a positive integer, got ${fromLsn}`);
    if (fromLsn < this.firstLsn) {
      throw new TidalError(
        'Compacted',
        `shard ${this.shard}: LSNs ${fromLsn}..${this.firstLsn - 1} were compacted into a snapshot; the log starts at ${this.firstLsn}`,
        { details: { firstLsn: this.firstLsn } },
      );
    }
    yield* this.reader.batches(fromLsn, options.verify !== false);
  }

  /** Committed events from `fromLsn` on, decoded (options as `readBatches`). */
  async *read(
    fromLsn = 1,
    options: WalReadOptions = {},
  ): AsyncGenerator<{
    /** The event's log sequence number. */
    lsn: number;
    /** The event as it was appended. */
    event: Value;
  }> {
    for await (const batch of this.readBatches(fromLsn, options)) {
      const events = decodePayload(batch.payload, batch.header.eventCount);
      for (let i = Math.max(0, fromLsn - batch.firstLsn); i < events.length; i++) {
        yield { lsn: batch.firstLsn + i, event: events[i]! };
      }
    }
  }

  /** The whole bytes of a sealed segment (for shipping it to a replica that must catch up). */
  async readSealedSegment(id: WalSegmentId): Promise<Uint8Array> {
    this.assertUsable();
    return this.reader.sealedSegment(id);
  }

  /** Commits what is pending, then closes every handle. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } catch {
      // A failed WAL still closes; the failure was reported to the appends it concerned.
    }
    this.closed = true;
    await this.log.dropSpare();
    await this.readHandles.stop();
    this.readHandles.closeDeferred();
    this.log.close();
  }
}
