/**
 * Reading the log back: committed batches from an LSN on, each read from
 * its segment at the offset recovery (or the writer) indexed and verified
 * again unless told not to, and whole sealed segments for a replica that
 * catches up. Reads go through the read-handle cache, so a replay or a
 * catch-up reading batch after batch does not reopen the file each time.
 *
 *     const reader = new LogReader(log, handles, b3);
 *     for await (const batch of reader.batches(fromLsn, true, firstLsn)) ...
 */
import type { Blake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { decodeBatch, SEGMENT_FOOTER_BYTES, type BatchHeader } from './format.js';
import type { ReadHandleCache } from './read-handles.js';
import type { SegmentLog } from './segment-log.js';
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
      let i = upperBound(segment.firstLsns, expected) - 1;
      for (; i < segment.offsets.length; i++) {
        const start = segment.offsets[i]!;
        const end = segment.offsets[i + 1] ?? segment.dataEnd;
        const bytes = new Uint8Array(end - start);
        const file = await this.handles.open(segment);
        file.read(bytes, start);
        const decoded = decodeBatch(this.b3, bytes, 0, { verify });
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

  /** The whole bytes of a sealed segment; `InvalidArgument` when the log has no such sealed segment. */
  async sealedSegment(id: WalSegmentId): Promise<Uint8Array> {
    const segment = this.log.segments.find((s) => s.id.equals(id));
    if (!segment || !segment.sealed) {
      throw new TidalError('InvalidArgument', `shard ${this.log.shard} has no sealed segment ${id.fileName()}`);
    }
    const file = await this.handles.open(segment);
    const bytes = new Uint8Array(segment.dataEnd + SEGMENT_FOOTER_BYTES);
    file.read(bytes, 0);
    return bytes;
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
