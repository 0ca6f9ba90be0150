/**
 * Reading the log back: committed batches from an LSN on, each read from
 * its segment at the offset recovery (or the writer) indexed and verified
 * again unless told not to, and whole sealed segments for a replica that
 * catches up. A segment recovery kept unread (`Segment.unverified`, wholly
 * below the newest snapshot) is read and verified in full, and indexed,
 * the first time either reads it, and a batch recovery did not check
 * (`Segment.uncheckedEnd`) is checked as it is read: `verify: false` never
 * skips a byte no one verified. Reads go through the read-handle cache, so a replay or a
 * catch-up reading batch after batch does not reopen the file each time.
 *
 *     const reader = new LogReader(log, handles, b3);
 *     for await (const batch of reader.batches(fromLsn, true, firstLsn)) ...
 */
import type { Blake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { decodeBatch, SEGMENT_FOOTER_BYTES, type BatchHeader, type DecodedBatch } from './format.js';
import type { ReadHandleCache } from './read-handles.js';
import type { Segment, SegmentLog } from './segment-log.js';
import { scanSegment } from './segment-scan.js';
import type { WalSegmentId } from './segment-id.js';

/** A committed batch as read back from the log. */
export interface WalBatch {
  /** The segment the batch is stored in. */
  readonly segment: WalSegmentId;
  /** The batch's decoded header. */
  readonly header: BatchHeader;
  /** LSN of the batch's first event. */
  readonly firstLsn: number;
  /** LSN of the batch's last event. */
  readonly lastLsn: number;
  /** The whole batch, header and payload, exactly as stored (already verified). */
  readonly bytes: Uint8Array;
  /** The payload part of `bytes`. */
  readonly payload: Uint8Array;
}

/** Reads batches and sealed segments of one shard's log. */
export class LogReader {
  private readonly log: SegmentLog;
  private readonly handles: ReadHandleCache;
  private readonly b3: Blake3;

  constructor(log: SegmentLog, handles: ReadHandleCache, b3: Blake3) {
    this.log = log;
    this.handles = handles;
    this.b3 = b3;
  }

  /**
   * Committed batches from the one holding `fromLsn` on (`fromLsn` at or
   * past the log's first LSN: the caller checks), each verified when
   * `verify`. A gap in the log throws `Corrupt`.
   */
  async *batches(fromLsn: number, verify: boolean): AsyncGenerator<WalBatch> {
    const shard = this.log.shard;
    let expected = fromLsn;
    for (const segment of [...this.log.segments]) {
      if (segment.lastLsn < expected) continue;
      if (segment.baseLsn > expected) {
        throw new TidalError(
          'Corrupt',
          `shard ${shard}: LSNs ${expected}..${segment.baseLsn - 1} are missing from the log (see the recovery report)`,
        );
      }
      await this.verified(segment);
      let i = upperBound(segment.firstLsns, expected) - 1;
      for (; i < segment.offsets.length; i++) {
        const start = segment.offsets[i]!;
        const end = segment.offsets[i + 1] ?? segment.dataEnd;
        const bytes = new Uint8Array(end - start);
        const file = await this.handles.open(segment);
        file.read(bytes, start);
        const decoded = this.decode(segment, bytes, start, verify);
        if (decoded.end !== bytes.length || decoded.header.firstLsn !== segment.firstLsns[i]) {
          throw new TidalError('Corrupt', `${segment.id.fileName()}: batch at offset ${start} changed on storage since it was verified`);
        }
        const lastLsn = decoded.header.firstLsn + decoded.header.eventCount - 1;
        yield {
          segment: segment.id,
          header: decoded.header,
          firstLsn: decoded.header.firstLsn,
          lastLsn,
          bytes,
          payload: bytes.subarray(decoded.payloadStart),
        };
        expected = lastLsn + 1;
      }
    }
  }

  /** Decodes the batch read from `start` of `segment`; one recovery did not check (below the snapshot at open) is checked now, whatever `verify` says. */
  private decode(segment: Segment, bytes: Uint8Array, start: number, verify: boolean): DecodedBatch {
    const unchecked = start < (segment.uncheckedEnd ?? 0);
    try {
      return decodeBatch(this.b3, bytes, 0, { verify: verify || unchecked });
    } catch (error) {
      if (!unchecked || !isTidalError(error)) throw error;
      throw new TidalError(
        'Corrupt',
        `${segment.id.fileName()}: batch at offset ${start} does not verify (checked when first read: it was below the snapshot at open): ${error.message}`,
        { cause: error },
      );
    }
  }

  /** The whole bytes of a sealed segment; `InvalidArgument` when the log has no such sealed segment. */
  async sealedSegment(id: WalSegmentId): Promise<Uint8Array> {
    const at = this.log.segments.findIndex((s) => s.id.equals(id));
    const segment = this.log.segments[at];
    if (!segment || !segment.sealed) {
      throw new TidalError('InvalidArgument', `shard ${this.log.shard} has no sealed segment ${id.fileName()}`);
    }
    await this.verified(segment, true);
    const file = await this.handles.open(segment);
    this.openAhead(this.log.segments[at + 1]);
    const bytes = new Uint8Array(segment.dataEnd + SEGMENT_FOOTER_BYTES);
    file.read(bytes, 0);
    return bytes;
  }

  /**
   * Starts opening the handle of `next`, the sealed segment after one read
   * whole, while that one is read and sent: a replica catching up reads
   * them in order, and opening a file is a round trip to the browser's
   * storage that its read would otherwise wait for. The handle goes into
   * the cache; a failure here is left for the read that needs the file to
   * meet again.
   */
  private openAhead(next: Segment | undefined): void {
    if (!next?.sealed || next.file || next.unverified) return;
    this.handles.open(next).catch(() => undefined);
  }

  /**
   * Verifies in full, and indexes, a sealed segment recovery kept unread
   * (`whole`: also one whose batches below the snapshot it did not check;
   * nothing for any other). `Corrupt` when it does not verify, or holds
   * other LSNs than its header and footer said at open: it is then never
   * read (recovery quarantines it at the next open).
   */
  private async verified(segment: Segment, whole = false): Promise<void> {
    const unchecked = () => segment.unverified !== undefined || (whole && (segment.uncheckedEnd ?? 0) > 0);
    if (!unchecked()) return;
    const file = await this.handles.open(segment);
    if (!unchecked()) return; // another reader verified it meanwhile
    const bytes = new Uint8Array(segment.dataEnd + SEGMENT_FOOTER_BYTES);
    file.read(bytes, 0);
    const scan = scanSegment(this.b3, bytes, segment.id, false);
    if (scan.kind !== 'good' || !scan.sealed || scan.header.baseLsn !== segment.baseLsn || scan.lastLsn !== segment.lastLsn) {
      throw new TidalError(
        'Corrupt',
        `${segment.id.fileName()}: ${scan.kind === 'damaged' ? scan.message : `holds other LSNs than its footer said`} (verified when first read: it was below the newest snapshot at open)`,
      );
    }
    if (segment.unverified) {
      for (const [i, offset] of scan.index.offsets.entries()) {
        segment.offsets.push(offset);
        segment.firstLsns.push(scan.index.firstLsns[i]!);
      }
    }
    segment.unverified = undefined;
    segment.uncheckedEnd = undefined;
  }
}

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
