/**
 * The segments of one shard's log as the WAL tracks them, and writing at
 * their end: the open segment takes whole batches until the next one would
 * pass the size bound, then it is sealed (its footer written and flushed;
 * it is never written again) and a new segment is started. Both the group
 * commit (the WAL's own appends) and the follower import (batches and
 * segments copied from a leader) write through here, so the two cannot
 * disagree about where a batch goes or what a footer says.
 *
 * A storage failure here leaves what reached storage unknown, so the log
 * stops (`failure`) until it is reopened and recovered.
 */
import type { Blake3, IncrementalBlake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { yieldToEventLoop } from '../common/event-loop.js';
import type { ShardId } from '../shard/shard-id.js';
import {
  BATCH_HEADER_V2_BYTES,
  encodeSegmentFooter,
  encodeSegmentHeader,
  SEGMENT_FOOTER_BYTES,
  SEGMENT_HEADER_BYTES,
  storedBatchDigest,
} from './format.js';
import type { BatchIndex } from './segment-scan.js';
import { WalSegmentId } from './segment-id.js';
import { SegmentSpare } from './segment-spare.js';
import type { WalFile, WalStorage } from './storage.js';

/** A range of LSNs, inclusive at both ends. */
export interface LsnRange {
  /** The first LSN in the range. */
  readonly first: number;
  /** The last LSN in the range (equal to `first` for a single event). */
  readonly last: number;
}

/** A segment of the log and where its batches are. */
export interface Segment extends BatchIndex {
  readonly id: WalSegmentId;
  readonly baseLsn: number;
  lastLsn: number;
  sealed: boolean;
  /** Offset just past the last batch (where the next batch or the footer goes). */
  dataEnd: number;
  /** Open handle, if any. The active segment always has one. */
  file: WalFile | undefined;
  /**
   * Set on a sealed segment that recovery kept without reading it (wholly
   * below the newest snapshot, `RecoveryOptions.deferBelowLsn`): its batch
   * index is empty and its bytes unverified until the log reader first
   * reads it, verifies it in full and fills the index (`LogReader.verified`).
   */
  unverified?: { readonly batchCount: number } | undefined;
  /**
   * On a sealed segment that straddles the newest snapshot at open: its
   * batches that start before this offset were walked for structure (and
   * bound by the footer digest) but their own digests not checked; the log
   * reader checks each as it reads it. 0 or absent: every batch was checked.
   */
  uncheckedEnd?: number | undefined;
}

/** The log as recovery leaves it: what `SegmentLog` starts from. */
export interface RecoveredSegments {
  /** Kept segments, oldest first; only the last may be open. Each that recovery read keeps its handle (the sealed ones go to the read-handle cache). */
  readonly segments: Segment[];
  /** LSN ranges lost to damage. */
  readonly gaps: LsnRange[];
  readonly nextLsn: number;
  readonly nextSeq: bigint;
}

/** Options of a `SegmentLog`. */
export interface SegmentLogOptions {
  readonly shard: ShardId;
  /** Segment size bound in bytes, header and footer included. */
  readonly segmentBytes: number;
  /** Stamps new segments. */
  readonly hlc: () => bigint;
}

/** One shard's segments, and the writer at their end. */
export class SegmentLog {
  readonly shard: ShardId;
  readonly segments: Segment[];
  readonly gaps: LsnRange[];
  /** The LSN the next batch must start at. */
  nextLsn: number;
  /** The seq the next started segment gets. */
  nextSeq: bigint;
  /** Bytes of batches (and whole imported segments) written since the log was opened; never decreases, compaction aside. */
  bytesAppended = 0;
  /** Set when a storage operation failed: the log must be reopened. */
  failure: TidalError | undefined;
  private readonly segmentBytes: number;
  private readonly hlc: () => bigint;
  /** Running v2 footer digest of the open segment: its header, then each batch's digest. */
  private readonly activeDigest: IncrementalBlake3;
  /** The running digest has not yet been fed the open segment recovered from storage. */
  private digestBehind: boolean;

  private readonly storage: WalStorage;
  private readonly b3: Blake3;
  /** The next segment's file, opened ahead once the open segment holds a batch (`SegmentSpare`). */
  private readonly spare = new SegmentSpare();
  /** Where in the open segment an append next yields to the event loop while the spare is still opening. */
  private yieldAt = 0;
  /** The open segment was flushed since it was started (or recovered): its header is durable. */
  private activeFlushed = false;

  constructor(storage: WalStorage, b3: Blake3, activeDigest: IncrementalBlake3, recovered: RecoveredSegments, options: SegmentLogOptions) {
    this.storage = storage;
    this.b3 = b3;
    this.shard = options.shard;
    this.segmentBytes = options.segmentBytes;
    this.hlc = options.hlc;
    this.activeDigest = activeDigest;
    this.segments = recovered.segments;
    this.gaps = recovered.gaps;
    this.nextLsn = recovered.nextLsn;
    this.nextSeq = recovered.nextSeq;
    // Fed on the first append, not at open: a log opened only to be read never needs it.
    const last = this.segments[this.segments.length - 1];
    this.digestBehind = last !== undefined && !last.sealed;
    this.failure = undefined;
  }

  /** The last segment, if any. */
  get last(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  /**
   * The open segment's file, with room for `batchBytes` more (sealing and
   * starting segments as needed). A storage failure is thrown as it is:
   * the caller decides whether the log can go on (`appendBatch`) or stops.
   */
  async fileFor(batchBytes: number): Promise<WalFile> {
    let active = this.last;
    if (active && !active.sealed && !active.file) await this.reopenActive(active);
    if (active && !active.sealed && active.offsets.length > 0 && active.dataEnd + batchBytes + SEGMENT_FOOTER_BYTES > this.segmentBytes) {
      this.seal(active);
    }
    active = this.last;
    if (!active || active.sealed) active = await this.startSegment();
    return active.file!;
  }

  /** Writes one whole batch at the end of the open segment and indexes it; returns the segment's id. */
  writeBatch(file: WalFile, batch: Uint8Array, firstLsn: number, eventCount: number): WalSegmentId {
    const active = this.last!;
    this.catchUpDigest(active);
    this.guard(() => file.write(batch, active.dataEnd));
    this.index(active, batch, firstLsn, eventCount);
    return active.id;
  }

  /** Takes a batch just written at the end of the open segment into its index and the running digest. */
  private index(active: Segment, batch: Uint8Array, firstLsn: number, eventCount: number): void {
    this.activeDigest.update(storedBatchDigest(batch, 0));
    this.bytesAppended += batch.length;
    active.offsets.push(active.dataEnd);
    active.firstLsns.push(firstLsn);
    active.dataEnd += batch.length;
    active.lastLsn = firstLsn + eventCount - 1;
    this.nextLsn = active.lastLsn + 1;
  }

  /**
   * Takes a whole sealed segment (already written to storage under its
   * name) into the log after the last one, replacing the last if it is the
   * same segment still open and empty.
   */
  adoptSealed(segment: Segment): void {
    this.segments.push(segment);
    this.bytesAppended += segment.dataEnd;
    this.nextSeq = segment.id.seq + 1n;
    this.nextLsn = segment.lastLsn + 1;
    this.activeDigest.reset();
    this.digestBehind = false;
  }

  /**
   * Appends one batch of the WAL's own (group commit), flushing it when
   * `flush`. If storage refuses any part of it (full, a failed write or
   * flush, a lost handle), the open segment is put back as it was before
   * the batch, on a fresh handle if need be, and the batch fails with
   * `StorageFull` (storage is full) or `StorageError` (any other refused
   * write): nothing of it is acknowledged, and the next append tries again.
   * Only when the segment cannot be put back does the log stop
   * (`StorageError`: reopen it).
   */
  async appendBatch(batch: Uint8Array, firstLsn: number, eventCount: number, flush: boolean): Promise<WalSegmentId> {
    let file: WalFile;
    try {
      file = await this.fileFor(batch.length);
    } catch (error) {
      throw await this.afterRefusedWrite(error);
    }
    const active = this.last!;
    const before = { dataEnd: active.dataEnd, batches: active.offsets.length, lastLsn: active.lastLsn, nextLsn: this.nextLsn };
    try {
      this.catchUpDigest(active);
      file.write(batch, active.dataEnd);
      this.index(active, batch, firstLsn, eventCount);
      if (flush) file.flush();
      // The next segment's file is opened only once this one's header is durable (`SegmentSpare`).
      if (!flush && !this.activeFlushed) file.flush();
      this.activeFlushed = true;
    } catch (error) {
      if (active.offsets.length > before.batches) this.bytesAppended -= batch.length;
      active.offsets.length = before.batches;
      active.firstLsns.length = before.batches;
      active.dataEnd = before.dataEnd;
      active.lastLsn = before.lastLsn;
      this.nextLsn = before.nextLsn;
      // The running digest may hold the refused batch: rebuild it from the segment when next needed.
      this.activeDigest.reset();
      this.digestBehind = true;
      throw await this.afterRefusedWrite(error);
    }
    this.spare.prepare(this.storage, new WalSegmentId(this.shard, this.nextSeq).fileName());
    return active.id;
  }

  /**
   * Lets the browser's answers to the next segment's opening in while the
   * open segment fills: from a quarter of it on, each eighth yields once to
   * the event loop while the file opened ahead is still opening (two
   * answers, each taken only in a task of its own, which appends awaited
   * one after another never run; bench `wal`: the roll's wait for the
   * handle went from ~1.6 to ~0 ms, the yields cost ~1). Called between
   * commits, once a batch is shipped and acknowledged, so that the turn
   * delays neither.
   */
  async turnWhileOpening(): Promise<void> {
    const active = this.last;
    if (!active || active.sealed || !this.spare.opening || active.dataEnd < this.yieldAt) return;
    this.yieldAt = active.dataEnd + this.segmentBytes / 8;
    await yieldToEventLoop();
  }

  /** Cuts the open segment back to its last indexed batch after a refused write; the error to report. */
  private async afterRefusedWrite(error: unknown): Promise<TidalError> {
    if (this.failure) return this.failure;
    if (isTidalError(error, 'Corrupt')) return this.fail(error);
    const active = this.last;
    if (active && !active.sealed && active.file) {
      try {
        active.file.truncate(active.dataEnd);
        active.file.flush();
      } catch {
        // The handle may be lost: the next append puts the segment back through a new one.
        try {
          active.file.close();
        } catch {
          // already gone
        }
        active.file = undefined;
      }
    }
    const reason = error instanceof Error ? error.message : String(error);
    // Full storage is the user's to resolve (free space); any other refused write is worth a resend.
    const full = isTidalError(error, 'StorageFull');
    return new TidalError(
      full ? 'StorageFull' : 'StorageError',
      `shard ${this.shard}: storage refused the batch (${reason}); nothing of it was acknowledged, and writes go on ${full ? 'once storage has room' : 'with the next append'}`,
      { cause: error },
    );
  }

  /** Reopens the open segment after its handle was lost, cut back to its last indexed batch. */
  private async reopenActive(active: Segment): Promise<void> {
    const file = await this.storage.open(active.id.fileName());
    try {
      if (file.size() < active.dataEnd) throw new TidalError('Corrupt', `${file.name} lost committed bytes while its handle was lost`);
      file.truncate(active.dataEnd);
      file.flush();
    } catch (error) {
      file.close();
      throw error;
    }
    active.file = file;
  }

  /** Stops the log: what reached storage is unknown now; recovery on reopen will tell. Returns the failure. */
  fail(error: unknown): TidalError {
    this.failure ??= isTidalError(error) ? error : new TidalError('StorageError', String(error), { cause: error });
    return this.failure;
  }

  /** Runs a storage operation; a failure leaves the log in an unknown state, so it stops until reopened. */
  guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw this.fail(error);
    }
  }

  /**
   * Removes sealed segments whose every LSN is below `beforeLsn` (they are
   * covered by a snapshot and no one needs them). Never the last segment.
   * Returns the segments removed, oldest first.
   */
  async removeBefore(beforeLsn: number, release: (segment: Segment) => Promise<void>): Promise<Segment[]> {
    const removed: Segment[] = [];
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      if (!oldest.sealed || oldest.lastLsn >= beforeLsn) break;
      await release(oldest);
      oldest.file?.close();
      oldest.file = undefined;
      await this.storage.remove(oldest.id.fileName());
      this.segments.shift();
      removed.push(oldest);
    }
    return removed;
  }

  /**
   * Drops every segment and starts the log over after `lsn` (a follower
   * that installed a snapshot at `lsn`): an empty open segment based at
   * `lsn + 1` is written at once, so that recovery finds where the log
   * starts. Returns the segments removed.
   */
  async restartAfter(lsn: number, release: (segment: Segment) => Promise<void>, flush: boolean): Promise<Segment[]> {
    await this.dropSpare();
    const removed = this.segments.splice(0);
    for (const segment of removed) {
      await release(segment);
      segment.file?.close();
      segment.file = undefined;
      await this.storage.remove(segment.id.fileName());
    }
    this.gaps.length = 0;
    this.nextLsn = lsn + 1;
    const started = await this.startSegment();
    if (flush) this.guard(() => started.file!.flush());
    return removed;
  }

  /**
   * Feeds the running digest the recovered open segment's header and batch
   * digests, once, before it grows or is sealed (recovery verified them).
   */
  private catchUpDigest(segment: Segment): void {
    if (!this.digestBehind) return;
    const file = segment.file!;
    const header = new Uint8Array(SEGMENT_HEADER_BYTES);
    file.read(header, 0);
    this.activeDigest.update(header);
    const batchHead = new Uint8Array(BATCH_HEADER_V2_BYTES);
    for (const start of segment.offsets) {
      file.read(batchHead, start);
      this.activeDigest.update(storedBatchDigest(batchHead, 0));
    }
    this.digestBehind = false;
  }

  /** Writes the footer of the active segment and flushes it: the segment is never written again. */
  private seal(segment: Segment): void {
    this.catchUpDigest(segment);
    const file = segment.file!;
    const footer = encodeSegmentFooter({
      batchCount: segment.offsets.length,
      eventCount: segment.lastLsn - segment.baseLsn + 1,
      lastLsn: segment.lastLsn,
      digest: this.activeDigest.digest(),
    });
    file.write(footer, segment.dataEnd);
    file.flush();
    segment.sealed = true;
    file.close();
    segment.file = undefined;
  }

  private async startSegment(): Promise<Segment> {
    const id = new WalSegmentId(this.shard, this.nextSeq);
    const header = encodeSegmentHeader(this.b3, { shard: this.shard, seq: id.seq, baseLsn: this.nextLsn, createdHlc: this.hlc() });
    const file = (await this.spare.take(id.fileName())) ?? (await this.storage.open(id.fileName(), { create: true }));
    try {
      // A segment this log has not started yet that already holds batches was written by another
      // leader since this one recovered the log (a stale leader of the same term): never overwrite it.
      if (file.size() > SEGMENT_HEADER_BYTES) {
        throw new TidalError(
          'StorageError',
          `${id.fileName()} already holds ${file.size()} bytes that this log did not write: another leader wrote it; this one must not append`,
        );
      }
      // What is there (nothing, or a header a crash cut short) is overwritten whole by the header:
      // no truncate, which in OPFS is one more synchronous round trip to the browser per segment.
      file.write(header, 0);
    } catch (error) {
      file.close();
      throw error;
    }
    this.nextSeq += 1n;
    this.activeDigest.reset();
    this.digestBehind = false;
    this.activeDigest.update(header);
    const segment: Segment = {
      id,
      baseLsn: this.nextLsn,
      lastLsn: this.nextLsn - 1,
      sealed: false,
      dataEnd: SEGMENT_HEADER_BYTES,
      offsets: [],
      firstLsns: [],
      file,
    };
    this.segments.push(segment);
    this.activeFlushed = false;
    this.yieldAt = this.segmentBytes / 4;
    return segment;
  }

  /**
   * Closes the next segment's file opened ahead, if any (removing it, empty):
   * before the log writes a segment by another way (an imported one, a
   * restart), and before `close`.
   */
  dropSpare(): Promise<void> {
    return this.spare.drop(this.storage);
  }

  /** Flushes the open segment (relaxed mode's writes too) and closes every handle. */
  close(): void {
    for (const segment of this.segments) {
      if (segment.file && !segment.sealed && !this.failure) segment.file.flush();
      segment.file?.close();
      segment.file = undefined;
    }
  }
}
