/**
 * Reading one segment file's bytes back: what recovery does to each
 * segment, following docs/FORMAT.md §6. The result says whether the segment
 * is good (sealed or open, possibly with a torn tail to cut), was never
 * started (a header torn by a crash), or is damaged and must be quarantined.
 *
 * A torn tail is a result, not an error: it is what a crash during an
 * append leaves behind.
 */
import { equalBytes, type Blake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import {
  batchDigestMatches,
  decodeBatch,
  decodeSegmentFooter,
  decodeSegmentHeader,
  footerDigestV2,
  isFooterAt,
  SEGMENT_FOOTER_BYTES,
  SEGMENT_HEADER_BYTES,
  BATCH_HEADER_V2_BYTES,
  type DecodedBatch,
  type SegmentFooter,
  type SegmentHeader,
} from './format.js';
import type { WalSegmentId } from './segment-id.js';

/** Where each batch of a segment starts, and its first LSN (parallel arrays, in log order). */
export interface BatchIndex {
  readonly offsets: number[];
  readonly firstLsns: number[];
}

/** The batches of a segment, walked from the header up to `end`. */
interface Walk extends BatchIndex {
  /** Offset reached: `end` when every batch was read, else where the failure is. */
  reached: number;
  /** Offset just past the last batch walked without checking its digest (`checkFromLsn`); 0 when none was. */
  uncheckedEnd: number;
  eventCount: number;
  /** Last LSN read (base − 1 when no batch was). */
  lastLsn: number;
  failure?: TidalError;
}

export type SegmentScan =
  | {
      readonly kind: 'good';
      readonly header: SegmentHeader;
      readonly sealed: boolean;
      readonly index: BatchIndex;
      /** Offset just past the last batch (the footer's offset when sealed). */
      readonly dataEnd: number;
      readonly eventCount: number;
      readonly lastLsn: number;
      /** Bytes after `dataEnd` that are a torn tail, to be cut (open segments only). */
      readonly tornBytes: number;
      /**
       * Offset just past the last batch whose digest was not checked
       * (`checkFromLsn`: below it, the batches were walked for structure
       * only and are verified when read); 0 when every batch was checked.
       */
      readonly uncheckedEnd: number;
    }
  | {
      /** The last segment's header was never completely written: the file holds nothing. */
      readonly kind: 'unstarted';
      readonly bytes: number;
    }
  | {
      readonly kind: 'damaged';
      readonly code: 'Corrupt' | 'HeaderMismatch';
      readonly message: string;
      /** Highest LSN the segment's readable parts claim, to keep LSNs from being reused. */
      readonly highestLsn: number;
      /** For the open segment: the verified prefix (header and good batches) worth keeping. */
      readonly keep?: Extract<SegmentScan, { kind: 'good' }>;
    };

/** Walks the batches; with `verify`, checks the digest of each that holds an LSN at or past `checkFromLsn`. */
function walk(b3: Blake3, bytes: Uint8Array, header: SegmentHeader, end: number, verify: boolean, checkFromLsn = 0): Walk {
  const result: Walk = {
    offsets: [],
    firstLsns: [],
    reached: SEGMENT_HEADER_BYTES,
    uncheckedEnd: 0,
    eventCount: 0,
    lastLsn: header.baseLsn - 1,
  };
  const region = bytes.subarray(0, end);
  while (result.reached < end) {
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(b3, region, result.reached, { verify: verify && checkFromLsn <= 1 });
      if (verify && checkFromLsn > 1) {
        if (batch.header.firstLsn + batch.header.eventCount - 1 < checkFromLsn) result.uncheckedEnd = batch.end;
        else if (!batchDigestMatches(b3, region, batch)) {
          throw new TidalError('DigestMismatch', `batch at offset ${batch.start} (LSN ${batch.header.firstLsn}) fails its BLAKE3 digest`, {
            details: { offset: batch.start, firstLsn: batch.header.firstLsn },
          });
        }
      }
    } catch (error) {
      if (!isTidalError(error)) throw error;
      if (error.code === 'UnsupportedVersion' && isNewerBatch(b3, region, result.reached)) throw newerFormat(error);
      result.failure = error;
      return result;
    }
    const { shard, firstLsn, eventCount } = batch.header;
    if ((shard !== undefined && shard !== header.shard) || firstLsn !== result.lastLsn + 1) {
      result.failure = new TidalError(
        'HeaderMismatch',
        shard !== undefined && shard !== header.shard
          ? `batch at offset ${batch.start} belongs to shard ${shard}, the segment to shard ${header.shard}`
          : `batch at offset ${batch.start} starts at LSN ${firstLsn}, expected ${result.lastLsn + 1}`,
      );
      return result;
    }
    result.offsets.push(batch.start);
    result.firstLsns.push(firstLsn);
    result.eventCount += eventCount;
    result.lastLsn = firstLsn + eventCount - 1;
    result.reached = batch.end;
  }
  return result;
}

/**
 * The highest LSN held by a batch that verifies after `from`, or 0 when none
 * does. Non-zero means the damage at `from` is not a torn tail.
 */
function lastVerifiableLsnAfter(b3: Blake3, bytes: Uint8Array, from: number): number {
  let highest = 0;
  for (let at = from + 1; at + 4 <= bytes.length; at++) {
    // 'TDLB'
    if (bytes[at] !== 0x54 || bytes[at + 1] !== 0x44 || bytes[at + 2] !== 0x4c || bytes[at + 3] !== 0x42) continue;
    try {
      const batch = decodeBatch(b3, bytes, at);
      highest = Math.max(highest, batch.header.firstLsn + batch.header.eventCount - 1);
      at = batch.end - 1;
    } catch {
      // not a batch; keep looking
    }
  }
  return highest;
}

function good(header: SegmentHeader, sealed: boolean, w: Walk, tornBytes: number): Extract<SegmentScan, { kind: 'good' }> {
  return {
    kind: 'good',
    header,
    sealed,
    index: { offsets: w.offsets, firstLsns: w.firstLsns },
    dataEnd: w.reached,
    eventCount: w.eventCount,
    lastLsn: w.lastLsn,
    tornBytes,
    uncheckedEnd: w.uncheckedEnd,
  };
}

/**
 * A sealed segment whose footer decoded: verifies it (v1: the footer digest
 * over every byte before it, then the batches walked for structure; v2:
 * every batch digest, then the footer digest over the header and the batch
 * digests) and checks the footer's counts. `footer-mismatch` means the
 * footer does not vouch for these bytes (a torn footer, on the last segment).
 */
function checkSealed(
  b3: Blake3,
  bytes: Uint8Array,
  header: SegmentHeader,
  footer: SegmentFooter,
  footerAt: number,
  footerVerified: boolean,
  checkFromLsn: number,
): { kind: 'scanned'; scan: SegmentScan } | { kind: 'footer-mismatch'; problem: string } {
  let w: Walk;
  if (footer.version === 1) {
    if (!footerVerified && !equalBytes(b3.hash(bytes.subarray(0, footerAt)), footer.digest)) {
      return { kind: 'footer-mismatch', problem: 'footer digest does not match the segment' };
    }
    // Every byte before the footer is as it was sealed: batch digests need no second pass.
    w = walk(b3, bytes, header, footerAt, false);
  } else {
    w = walk(b3, bytes, header, footerAt, !footerVerified, checkFromLsn);
    if (w.failure) {
      // A batch fails its own digest or structure: the footer cannot vouch for the segment.
      return { kind: 'footer-mismatch', problem: `batch digests are checked before the footer's, and one fails: ${w.failure.message}` };
    }
    if (!footerVerified && !equalBytes(footerDigestV2(b3, bytes, w.offsets), footer.digest)) {
      return { kind: 'footer-mismatch', problem: 'footer digest does not match the segment header and batch digests' };
    }
  }
  if (w.failure) {
    const scan: SegmentScan = {
      kind: 'damaged',
      code: 'Corrupt',
      message: `sealed segment verifies but its batches do not parse: ${w.failure.message}`,
      highestLsn: w.lastLsn,
    };
    return { kind: 'scanned', scan };
  }
  if (w.offsets.length !== footer.batchCount || w.eventCount !== footer.eventCount || w.lastLsn !== footer.lastLsn) {
    const scan: SegmentScan = {
      kind: 'damaged',
      code: 'HeaderMismatch',
      message: `footer claims ${footer.batchCount} batches, ${footer.eventCount} events, last LSN ${footer.lastLsn}; the segment holds ${w.offsets.length}, ${w.eventCount}, ${w.lastLsn}`,
      highestLsn: Math.max(w.lastLsn, footer.lastLsn),
    };
    return { kind: 'scanned', scan };
  }
  return { kind: 'scanned', scan: good(header, true, w, 0) };
}

/**
 * Scans a segment's bytes. `isLast` says whether it is the shard's last
 * segment, the only one allowed to be open or to have a torn tail.
 * `footerVerified` skips hashing a sealed segment's bytes when the caller
 * has just checked them against the footer's digest itself.
 * `checkFromLsn` (v2 batches): batches whose every LSN is below it are
 * walked for structure (and, sealed, bound by the footer digest), but their
 * own digests are left for whoever reads them (`uncheckedEnd`). In an open
 * segment, only while its last batch is checked and nothing fails: a torn
 * tail or damage is judged with every batch checked.
 */
export function scanSegment(
  b3: Blake3,
  bytes: Uint8Array,
  id: WalSegmentId,
  isLast: boolean,
  options: { footerVerified?: boolean; checkFromLsn?: number } = {},
): SegmentScan {
  let header: SegmentHeader;
  try {
    header = decodeSegmentHeader(b3, bytes);
  } catch (error) {
    if (!isTidalError(error)) throw error;
    if (error.code === 'UnsupportedVersion' && isNewerSegmentHeader(b3, bytes)) throw newerFormat(error);
    if (isLast && bytes.length <= SEGMENT_HEADER_BYTES) return { kind: 'unstarted', bytes: bytes.length };
    return { kind: 'damaged', code: 'Corrupt', message: `segment header: ${error.message}`, highestLsn: 0 };
  }
  if (header.shard !== id.shard || header.seq !== id.seq) {
    return {
      kind: 'damaged',
      code: 'HeaderMismatch',
      message: `file name says shard ${id.shard} seq ${id.seq}, header says shard ${header.shard} seq ${header.seq}`,
      highestLsn: header.baseLsn - 1,
    };
  }

  const footerAt = bytes.length - SEGMENT_FOOTER_BYTES;
  if (footerAt >= SEGMENT_HEADER_BYTES && isFooterAt(bytes, footerAt)) {
    let footerProblem: string;
    try {
      const footer = decodeSegmentFooter(bytes, footerAt);
      const checked = checkSealed(b3, bytes, header, footer, footerAt, options.footerVerified === true, options.checkFromLsn ?? 0);
      if (checked.kind !== 'footer-mismatch') return checked.scan;
      footerProblem = checked.problem;
    } catch (error) {
      if (!isTidalError(error)) throw error;
      footerProblem = `footer: ${error.message}`;
    }
    if (!isLast) {
      const w = walk(b3, bytes, header, footerAt, true);
      const where = w.failure ? `; first bad batch: ${w.failure.message}` : '';
      return { kind: 'damaged', code: 'Corrupt', message: `sealed segment: ${footerProblem}${where}`, highestLsn: w.lastLsn };
    }
    // The last segment: what looked like a footer may be a torn one; read it as open.
  } else if (!isLast) {
    return {
      kind: 'damaged',
      code: 'Corrupt',
      message: 'segment is not the last of its shard but has no footer: it was never sealed',
      highestLsn: walk(b3, bytes, header, bytes.length, false).lastLsn,
    };
  }

  let w = walk(b3, bytes, header, bytes.length, true, options.checkFromLsn);
  // Where a torn tail or damage may be (a failure, or a last batch left unchecked), every batch is checked.
  if (w.uncheckedEnd > 0 && (w.failure || w.uncheckedEnd >= w.reached)) w = walk(b3, bytes, header, bytes.length, true);
  if (!w.failure) return good(header, false, w, 0);
  const prefix = good(header, false, w, 0);
  const lastAfter = lastVerifiableLsnAfter(b3, bytes, w.reached);
  if (w.failure.code === 'HeaderMismatch' || lastAfter > 0) {
    return {
      kind: 'damaged',
      code: w.failure.code === 'HeaderMismatch' ? 'HeaderMismatch' : 'Corrupt',
      message: `open segment damaged at offset ${w.reached} with verifiable data after it: ${w.failure.message}`,
      highestLsn: Math.max(w.lastLsn, lastAfter),
      keep: prefix,
    };
  }
  return good(header, false, w, bytes.length - w.reached);
}

/**
 * A segment header or batch of a version this build does not read, whose own digest verifies, was
 * written by a newer tidal: it is not damage to cut or quarantine. Scanning stops with `VersionSkew`,
 * every file left as it is (docs/FORMAT.md, "Versions"), and the tab steps aside for the newer tidal.
 */
export function newerFormat(error: TidalError): TidalError {
  return new TidalError('VersionSkew', `the log holds a format newer than this build reads (${error.message})`, { cause: error });
}

/**
 * A segment header of an unknown version that verifies by the digest every version keeps (BLAKE3 of
 * bytes 0..40, at 40): written by a newer tidal. A damaged version field fails it, and is damage.
 */
export function isNewerSegmentHeader(b3: Blake3, bytes: Uint8Array): boolean {
  return bytes.length >= SEGMENT_HEADER_BYTES && equalBytes(b3.hash(bytes.subarray(0, 40)), bytes.subarray(40, SEGMENT_HEADER_BYTES));
}

/**
 * A batch of an unknown version at `at` that verifies as every version from v2 on keeps it (payload
 * length at 32, BLAKE3 of bytes 0..40 and the payload at 40): written by a newer tidal.
 */
export function isNewerBatch(b3: Blake3, region: Uint8Array, at: number): boolean {
  if (at + BATCH_HEADER_V2_BYTES > region.length) return false;
  const payloadLength = new DataView(region.buffer, region.byteOffset + at + 32, 4).getUint32(0, true);
  const end = at + BATCH_HEADER_V2_BYTES + payloadLength;
  if (end > region.length) return false;
  const digest = b3.hash(region.subarray(at, at + 40), region.subarray(at + BATCH_HEADER_V2_BYTES, end));
  return equalBytes(digest, region.subarray(at + 40, at + BATCH_HEADER_V2_BYTES));
}
