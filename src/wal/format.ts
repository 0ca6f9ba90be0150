/**
 * The WAL's byte formats, exactly as docs/FORMAT.md specifies them: the
 * segment header and footer, and batch headers v2 (written) and v1 (read
 * only). Writers fill fixed-width fields with a little-endian `DataView`;
 * readers check magic, version, flags, reserved fields and every length
 * before they trust a byte, and throw a `TidalError` naming the field.
 *
 * Nothing here touches storage: these functions turn fields into bytes and
 * bytes into fields, so that the WAL, recovery, replication and the fuzz
 * tests all share one reader.
 */
import { DIGEST_BYTES, equalBytes, type Blake3 } from '../common/blake3.js';
import { TidalError, type TidalErrorCode } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';

export const SEGMENT_HEADER_BYTES = 72;
export const SEGMENT_FOOTER_BYTES = 64;
export const BATCH_HEADER_V2_BYTES = 72;
export const BATCH_HEADER_V1_BYTES = 56;
/** Largest LSN: LSNs are u64 on disk and JavaScript numbers in the API. */
export const MAX_LSN = Number.MAX_SAFE_INTEGER;

// 'TDLS', 'TDLF', 'TDLB' read as little-endian u32.
const SEGMENT_MAGIC = 0x534c4454;
const FOOTER_MAGIC = 0x464c4454;
const BATCH_MAGIC = 0x424c4454;
const SEGMENT_VERSION = 1;
/** Footers written now; version 1 (digest over every byte before the footer) is still read. */
const FOOTER_VERSION = 2;
/** The digest of a v2 header covers its first 40 bytes; of a v1 header, its first 24. */
const V2_DIGEST_AT = 40;
const V1_DIGEST_AT = 24;

function fail(code: TidalErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new TidalError(code, message, details === undefined ? {} : { details });
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function lsnFrom(value: bigint, what: string, allowZero = false): number {
  if (value > BigInt(MAX_LSN) || (!allowZero && value === 0n)) {
    fail('LengthOutOfBounds', `${what} ${value} is outside 1..2^53-1`);
  }
  return Number(value);
}

/** The first 72 bytes of every segment file. */
export interface SegmentHeader {
  readonly shard: ShardId;
  readonly seq: bigint;
  /** The first LSN this segment holds. */
  readonly baseLsn: number;
  readonly createdHlc: bigint;
}

/** Encodes a segment header (with its digest). */
export function encodeSegmentHeader(b3: Blake3, header: SegmentHeader): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = viewOf(bytes);
  view.setUint32(0, SEGMENT_MAGIC, true);
  view.setUint16(4, SEGMENT_VERSION, true);
  view.setUint16(8, header.shard, true);
  view.setBigUint64(16, header.seq, true);
  view.setBigUint64(24, BigInt(header.baseLsn), true);
  view.setBigUint64(32, header.createdHlc, true);
  bytes.set(b3.hash(bytes.subarray(0, 40)), 40);
  return bytes;
}

/** Decodes and verifies a segment header at the start of `bytes`. */
export function decodeSegmentHeader(b3: Blake3, bytes: Uint8Array): SegmentHeader {
  if (bytes.length < SEGMENT_HEADER_BYTES) {
    fail('Truncated', `segment header needs ${SEGMENT_HEADER_BYTES} bytes, the file has ${bytes.length}`);
  }
  const view = viewOf(bytes);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) fail('BadMagic', 'segment does not start with magic TDLS');
  const version = view.getUint16(4, true);
  if (version !== SEGMENT_VERSION) {
    fail(
      'UnsupportedVersion',
      `segment header version ${version} is not supported (this build reads version ${SEGMENT_VERSION}); it may have been written by a newer tidal`,
    );
  }
  const flags = view.getUint16(6, true);
  if (flags !== 0) fail('UnsupportedFlags', `segment header has unknown flags 0x${flags.toString(16)}`);
  if (view.getUint16(10, true) !== 0 || view.getUint32(12, true) !== 0) {
    fail('ReservedNotZero', 'segment header reserved bytes 10..16 are not zero');
  }
  if (!equalBytes(b3.hash(bytes.subarray(0, 40)), bytes.subarray(40, SEGMENT_HEADER_BYTES))) {
    fail('DigestMismatch', 'segment header digest does not match its bytes');
  }
  return {
    shard: view.getUint16(8, true),
    seq: view.getBigUint64(16, true),
    baseLsn: lsnFrom(view.getBigUint64(24, true), 'segment base LSN'),
    createdHlc: view.getBigUint64(32, true),
  };
}

/** The last 64 bytes of a sealed segment. */
export interface SegmentFooter {
  /**
   * 2: `digest` is BLAKE3 over the segment header's 72 bytes followed by each
   * batch's 32-byte digest, in order (`footerDigestV2`). 1 (read only): BLAKE3
   * of every byte of the segment before the footer.
   */
  readonly version: 1 | 2;
  readonly batchCount: number;
  readonly eventCount: number;
  /** base LSN + eventCount − 1 (base − 1 for an empty segment). */
  readonly lastLsn: number;
  readonly digest: Uint8Array;
}

/** Encodes a v2 footer (`digest` from `footerDigestV2`). */
export function encodeSegmentFooter(footer: Omit<SegmentFooter, 'version'>): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_FOOTER_BYTES);
  const view = viewOf(bytes);
  view.setUint32(0, FOOTER_MAGIC, true);
  view.setUint16(4, FOOTER_VERSION, true);
  view.setUint32(8, footer.batchCount, true);
  view.setBigUint64(16, BigInt(footer.eventCount), true);
  view.setBigUint64(24, BigInt(footer.lastLsn), true);
  bytes.set(footer.digest, 32);
  return bytes;
}

/** True when `bytes` at `offset` starts with the footer magic. */
export function isFooterAt(bytes: Uint8Array, offset: number): boolean {
  return offset + 4 <= bytes.length && viewOf(bytes).getUint32(offset, true) === FOOTER_MAGIC;
}

/** Decodes the footer fields (the caller verifies the digest against the bytes before it). */
export function decodeSegmentFooter(bytes: Uint8Array, offset: number): SegmentFooter {
  if (offset + SEGMENT_FOOTER_BYTES !== bytes.length) {
    fail(
      offset + SEGMENT_FOOTER_BYTES > bytes.length ? 'Truncated' : 'HeaderMismatch',
      `segment footer at offset ${offset} must end the file exactly (file is ${bytes.length} bytes)`,
    );
  }
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== FOOTER_MAGIC) fail('BadMagic', `no footer magic TDLF at offset ${offset}`);
  const version = view.getUint16(offset + 4, true);
  if (version !== 1 && version !== 2) {
    fail(
      'UnsupportedVersion',
      `segment footer version ${version} is not supported (this build reads 1 and 2); it may have been written by a newer tidal`,
    );
  }
  const flags = view.getUint16(offset + 6, true);
  if (flags !== 0) fail('UnsupportedFlags', `segment footer has unknown flags 0x${flags.toString(16)}`);
  if (view.getUint32(offset + 12, true) !== 0) fail('ReservedNotZero', 'segment footer reserved bytes 12..16 are not zero');
  const eventCount = view.getBigUint64(offset + 16, true);
  if (eventCount > BigInt(MAX_LSN)) fail('LengthOutOfBounds', `segment footer event count ${eventCount} is out of range`);
  return {
    version,
    batchCount: view.getUint32(offset + 8, true),
    eventCount: Number(eventCount),
    lastLsn: lsnFrom(view.getBigUint64(offset + 24, true), 'segment footer last LSN', true),
    digest: bytes.subarray(offset + 32, offset + SEGMENT_FOOTER_BYTES),
  };
}

/** A decoded batch header, v1 or v2. */
export interface BatchHeader {
  /** The header's format version (docs/FORMAT.md). */
  readonly version: 1 | 2;
  /** The shard in a v2 header; `undefined` in v1 (taken from the segment). */
  readonly shard: ShardId | undefined;
  /** How many events the payload holds. */
  readonly eventCount: number;
  /** LSN of the batch's first event; the rest follow consecutively. */
  readonly firstLsn: number;
  /** The batch's HLC (0 for v1, which has none). */
  readonly hlc: bigint;
  /** Length in bytes of the payload that follows the header. */
  readonly payloadLength: number;
  /** 72 for v2, 56 for v1. */
  readonly headerBytes: number;
}

/** Fields a writer supplies for a v2 batch. */
export interface BatchFields {
  readonly shard: ShardId;
  readonly eventCount: number;
  readonly firstLsn: number;
  readonly hlc: bigint;
}

/**
 * Fills a v2 header into `batch[0..72)` for the payload that follows it in
 * `batch[72..)`, digest included. The caller lays the payload out after a
 * 72-byte gap so that the batch is one buffer and one write.
 */
export function fillBatchHeaderV2(b3: Blake3, batch: Uint8Array, fields: BatchFields): void {
  const payloadLength = batch.length - BATCH_HEADER_V2_BYTES;
  if (payloadLength < 0 || payloadLength > 0xffffffff) {
    fail('LengthOutOfBounds', `batch payload length ${payloadLength} does not fit a u32`);
  }
  const view = viewOf(batch);
  view.setUint32(0, BATCH_MAGIC, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 0, true);
  view.setUint16(8, fields.shard, true);
  view.setUint16(10, 0, true);
  view.setUint32(12, fields.eventCount, true);
  view.setBigUint64(16, BigInt(fields.firstLsn), true);
  view.setBigUint64(24, fields.hlc, true);
  view.setUint32(32, payloadLength, true);
  view.setUint32(36, 0, true);
  batch.set(b3.hash(batch.subarray(0, V2_DIGEST_AT), batch.subarray(BATCH_HEADER_V2_BYTES)), V2_DIGEST_AT);
}

/** Options for `decodeBatch`. */
export interface DecodeBatchOptions {
  /** Verify the digest (default true). Recovery skips it inside a segment whose footer verified. */
  readonly verify?: boolean;
  /** Refuse payloads longer than this (default: no bound beyond the buffer). */
  readonly maxPayloadBytes?: number;
}

/** A batch found in a buffer: its header, and where its payload and its end are. */
export interface DecodedBatch {
  readonly header: BatchHeader;
  /** Offset of the batch's first byte. */
  readonly start: number;
  /** Offset of the payload's first byte. */
  readonly payloadStart: number;
  /** Offset just past the batch. */
  readonly end: number;
}

/**
 * Reads and (by default) verifies the batch starting at `offset`, in the
 * order docs/FORMAT.md §3.3 gives. Throws a `TidalError` whose code says
 * what failed; `Truncated` means the batch runs past the end of `bytes`.
 */
export function decodeBatch(b3: Blake3, bytes: Uint8Array, offset: number, options: DecodeBatchOptions = {}): DecodedBatch {
  const remaining = bytes.length - offset;
  if (remaining < 6) fail('Truncated', `batch at offset ${offset}: ${remaining} bytes left, a header needs at least 56`, { offset });
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== BATCH_MAGIC) fail('BadMagic', `no batch magic TDLB at offset ${offset}`, { offset });
  const version = view.getUint16(offset + 4, true);
  if (version !== 1 && version !== 2) {
    fail('UnsupportedVersion', `batch at offset ${offset} has version ${version}; this build reads 1 and 2`, { offset });
  }
  const headerBytes = version === 2 ? BATCH_HEADER_V2_BYTES : BATCH_HEADER_V1_BYTES;
  if (remaining < headerBytes)
    fail('Truncated', `batch header at offset ${offset} is cut short (${remaining} of ${headerBytes} bytes)`, { offset });
  const flags = view.getUint16(offset + 6, true);
  if (flags !== 0) fail('UnsupportedFlags', `batch at offset ${offset} has unknown flags 0x${flags.toString(16)}`, { offset });

  let header: BatchHeader;
  if (version === 2) {
    if (view.getUint16(offset + 10, true) !== 0 || view.getUint32(offset + 36, true) !== 0) {
      fail('ReservedNotZero', `batch at offset ${offset} has non-zero reserved fields`, { offset });
    }
    header = {
      version,
      shard: view.getUint16(offset + 8, true),
      eventCount: view.getUint32(offset + 12, true),
      firstLsn: lsnFrom(view.getBigUint64(offset + 16, true), `batch at offset ${offset}: first LSN`),
      hlc: view.getBigUint64(offset + 24, true),
      payloadLength: view.getUint32(offset + 32, true),
      headerBytes,
    };
  } else {
    header = {
      version,
      shard: undefined,
      eventCount: view.getUint32(offset + 8, true),
      payloadLength: view.getUint32(offset + 12, true),
      firstLsn: lsnFrom(view.getBigUint64(offset + 16, true), `batch at offset ${offset}: first LSN`),
      hlc: 0n,
      headerBytes,
    };
  }
  if (header.eventCount === 0) fail('LengthOutOfBounds', `batch at offset ${offset} claims 0 events`, { offset });
  if (header.firstLsn + header.eventCount - 1 > MAX_LSN) {
    fail('LengthOutOfBounds', `batch at offset ${offset}: LSNs ${header.firstLsn}+${header.eventCount} pass 2^53-1`, { offset });
  }
  if (options.maxPayloadBytes !== undefined && header.payloadLength > options.maxPayloadBytes) {
    fail(
      'LengthOutOfBounds',
      `batch at offset ${offset} claims a ${header.payloadLength}-byte payload, over the bound of ${options.maxPayloadBytes}`,
      { offset },
    );
  }
  const payloadStart = offset + headerBytes;
  const end = payloadStart + header.payloadLength;
  if (end > bytes.length) {
    fail(
      'Truncated',
      `batch at offset ${offset} claims a ${header.payloadLength}-byte payload, only ${bytes.length - payloadStart} bytes remain`,
      { offset },
    );
  }
  const batch = { header, start: offset, payloadStart, end };
  if (options.verify !== false && !batchDigestMatches(b3, bytes, batch)) {
    fail('DigestMismatch', `batch at offset ${offset} (LSN ${header.firstLsn}) fails its BLAKE3 digest`, {
      offset,
      firstLsn: header.firstLsn,
    });
  }
  return batch;
}

/** True when a structurally decoded batch's digest matches its bytes. */
export function batchDigestMatches(b3: Blake3, bytes: Uint8Array, batch: DecodedBatch): boolean {
  const digestAt = batch.start + (batch.header.version === 2 ? V2_DIGEST_AT : V1_DIGEST_AT);
  const digest = b3.hash(bytes.subarray(batch.start, digestAt), bytes.subarray(batch.payloadStart, batch.end));
  return equalBytes(digest, bytes.subarray(digestAt, digestAt + DIGEST_BYTES));
}

/**
 * The 32-byte digest stored in the batch header at `start` (a view): at
 * offset 40 of a v2 header, 24 of a v1 header. The caller has decoded the
 * batch (so the header is whole and its version known).
 */
export function storedBatchDigest(bytes: Uint8Array, start: number): Uint8Array {
  const version = viewOf(bytes).getUint16(start + 4, true);
  const at = start + (version === 2 ? V2_DIGEST_AT : V1_DIGEST_AT);
  return bytes.subarray(at, at + DIGEST_BYTES);
}

/**
 * The v2 footer digest of a segment: BLAKE3 over its header's 72 bytes
 * followed by each batch's stored digest, in order. Each batch digest
 * covers its header and payload, so this binds the exact sequence of
 * batches without hashing a payload byte a second time.
 */
export function footerDigestV2(b3: Blake3, segment: Uint8Array, batchStarts: readonly number[]): Uint8Array {
  // One small buffer (32 bytes a batch) rather than one hash part per batch.
  const input = new Uint8Array(SEGMENT_HEADER_BYTES + DIGEST_BYTES * batchStarts.length);
  input.set(segment.subarray(0, SEGMENT_HEADER_BYTES));
  for (const [i, start] of batchStarts.entries()) input.set(storedBatchDigest(segment, start), SEGMENT_HEADER_BYTES + DIGEST_BYTES * i);
  return b3.hash(input);
}

/**
 * Encodes a v1 batch. Only tests and fixtures use it: writers write v2.
 */
export function encodeBatchV1(b3: Blake3, fields: Omit<BatchFields, 'shard' | 'hlc'>, payload: Uint8Array): Uint8Array {
  const batch = new Uint8Array(BATCH_HEADER_V1_BYTES + payload.length);
  const view = viewOf(batch);
  view.setUint32(0, BATCH_MAGIC, true);
  view.setUint16(4, 1, true);
  view.setUint32(8, fields.eventCount, true);
  view.setUint32(12, payload.length, true);
  view.setBigUint64(16, BigInt(fields.firstLsn), true);
  batch.set(payload, BATCH_HEADER_V1_BYTES);
  batch.set(b3.hash(batch.subarray(0, V1_DIGEST_AT), payload), V1_DIGEST_AT);
  return batch;
}
