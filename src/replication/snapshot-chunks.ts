/**
 * Snapshot chunks (docs/FORMAT.md §7.3): how a leader's snapshot file
 * travels to a follower that the log alone cannot bring up to date (it is
 * behind the oldest segment the leader kept, or it starts empty). The file
 * is cut into chunks that fit the transports' payload bound and sent on the
 * segment lane, in order; each chunk carries its own BLAKE3 digest (a
 * damaged chunk is refused on arrival, before it is held) and names the
 * snapshot it belongs to by the file's own trailing digest. The assembled
 * file is verified whole (docs/FORMAT.md §9.3) before anything of it is
 * installed: see `snapshot-receiver.ts`.
 *
 *     for (const chunk of encodeSnapshotChunks(b3, { shard, lsn, file }, 1 << 20)) send(chunk);
 *     const chunk = decodeSnapshotChunk(b3, received, shard); // throws a TidalError naming what is wrong
 */
import { DIGEST_BYTES, equalBytes, type Blake3 } from '../common/blake3.js';
import { TidalError, type TidalErrorCode } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { MAX_LSN } from '../wal/format.js';
import { MAX_SNAPSHOT_BODY_BYTES, SNAPSHOT_OVERHEAD_BYTES } from '../wal/snapshot-file.js';

export const SNAPSHOT_CHUNK_HEADER_BYTES = 104;
/** Largest snapshot file a chunk may claim to be part of. */
export const MAX_SNAPSHOT_FILE_BYTES = MAX_SNAPSHOT_BODY_BYTES + SNAPSHOT_OVERHEAD_BYTES;

// 'TDSC' read as a little-endian u32.
const CHUNK_MAGIC = 0x43534454;
const CHUNK_VERSION = 1;

/** One verified chunk: where it goes in which snapshot file. */
export interface SnapshotChunk {
  readonly shard: ShardId;
  /** The snapshot's LSN. */
  readonly lsn: number;
  /** Bytes of the whole snapshot file. */
  readonly fileBytes: number;
  /** Where this chunk starts in the file. */
  readonly offset: number;
  /** The snapshot file's own digest (its last 32 bytes): which snapshot this is a part of. */
  readonly fileDigest: Uint8Array;
  /** The chunk's part of the file, a view of the received bytes. */
  readonly bytes: Uint8Array;
}

/** True when `bytes` start with the chunk magic `TDSC` (and so are not a run of batches or a segment). */
export function isSnapshotChunk(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x54 && bytes[1] === 0x44 && bytes[2] === 0x53 && bytes[3] === 0x43;
}

/**
 * Cuts a snapshot file (as stored: header, body, digest) into chunks of at
 * most `maxChunkBytes` bytes each, header included; each in a buffer of its
 * own, ready to be handed to a transport.
 */
export function encodeSnapshotChunks(
  b3: Blake3,
  snapshot: { readonly shard: ShardId; readonly lsn: number; readonly file: Uint8Array },
  maxChunkBytes: number,
): Uint8Array[] {
  const { shard, lsn, file } = snapshot;
  const room = maxChunkBytes - SNAPSHOT_CHUNK_HEADER_BYTES;
  if (!Number.isSafeInteger(room) || room < 1) {
    throw new TidalError(
      'InvalidArgument',
      `snapshot chunks need more than ${SNAPSHOT_CHUNK_HEADER_BYTES} bytes each, got ${maxChunkBytes}`,
    );
  }
  if (file.length < SNAPSHOT_OVERHEAD_BYTES || file.length > MAX_SNAPSHOT_FILE_BYTES) {
    throw new TidalError('InvalidArgument', `a snapshot file of ${file.length} bytes cannot be shipped`);
  }
  const fileDigest = file.subarray(file.length - DIGEST_BYTES);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < file.length; offset += room) {
    const part = file.subarray(offset, Math.min(file.length, offset + room));
    const chunk = new Uint8Array(SNAPSHOT_CHUNK_HEADER_BYTES + part.length);
    const view = new DataView(chunk.buffer);
    view.setUint32(0, CHUNK_MAGIC, true);
    view.setUint16(4, CHUNK_VERSION, true);
    view.setUint16(6, shard, true);
    view.setBigUint64(8, BigInt(lsn), true);
    view.setBigUint64(16, BigInt(file.length), true);
    view.setBigUint64(24, BigInt(offset), true);
    view.setUint32(32, part.length, true);
    chunk.set(fileDigest, 40);
    chunk.set(part, SNAPSHOT_CHUNK_HEADER_BYTES);
    chunk.set(chunkDigest(b3, chunk), 72);
    chunks.push(chunk);
  }
  return chunks;
}

/** BLAKE3 of the header's first 72 bytes followed by the chunk's part of the file. */
function chunkDigest(b3: Blake3, chunk: Uint8Array): Uint8Array {
  return b3.hash(chunk.subarray(0, 72), chunk.subarray(SNAPSHOT_CHUNK_HEADER_BYTES));
}

function fail(code: TidalErrorCode, message: string): never {
  throw new TidalError(code, message);
}

/**
 * Decodes and verifies one chunk for a replica of shard `shard`, in the
 * order docs/FORMAT.md §7.3 gives: `Truncated`, `BadMagic`,
 * `UnsupportedVersion`, `ReservedNotZero`, `WrongShard`,
 * `LengthOutOfBounds`, `DigestMismatch`. Nothing of a refused chunk is
 * returned; the chunk's bytes are a view of `bytes`.
 */
export function decodeSnapshotChunk(b3: Blake3, bytes: Uint8Array, shard: ShardId): SnapshotChunk {
  if (bytes.length < SNAPSHOT_CHUNK_HEADER_BYTES)
    fail('Truncated', `snapshot chunk of ${bytes.length} bytes is shorter than its ${SNAPSHOT_CHUNK_HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== CHUNK_MAGIC) fail('BadMagic', 'snapshot chunk does not start with magic TDSC');
  const version = view.getUint16(4, true);
  if (version !== CHUNK_VERSION)
    fail('UnsupportedVersion', `snapshot chunk version ${version} is not supported (this build reads ${CHUNK_VERSION})`);
  if (view.getUint32(36, true) !== 0) fail('ReservedNotZero', 'snapshot chunk reserved bytes 36..40 are not zero');
  const chunkShard = view.getUint16(6, true);
  if (chunkShard !== shard) fail('WrongShard', `snapshot chunk of shard ${chunkShard} sent to a replica of shard ${shard}`);
  const lsn = view.getBigUint64(8, true);
  if (lsn < 1n || lsn > BigInt(MAX_LSN)) fail('LengthOutOfBounds', `snapshot chunk LSN ${lsn} is outside 1..2^53-1`);
  const fileBytes = view.getBigUint64(16, true);
  if (fileBytes < BigInt(SNAPSHOT_OVERHEAD_BYTES) || fileBytes > BigInt(MAX_SNAPSHOT_FILE_BYTES))
    fail(
      'LengthOutOfBounds',
      `snapshot chunk claims a ${fileBytes}-byte file, outside ${SNAPSHOT_OVERHEAD_BYTES}..${MAX_SNAPSHOT_FILE_BYTES}`,
    );
  const offset = view.getBigUint64(24, true);
  const length = view.getUint32(32, true);
  if (length !== bytes.length - SNAPSHOT_CHUNK_HEADER_BYTES) {
    fail(
      length > bytes.length - SNAPSHOT_CHUNK_HEADER_BYTES ? 'Truncated' : 'LengthOutOfBounds',
      `snapshot chunk claims ${length} bytes of file, it carries ${bytes.length - SNAPSHOT_CHUNK_HEADER_BYTES}`,
    );
  }
  if (length === 0 || offset + BigInt(length) > fileBytes)
    fail('LengthOutOfBounds', `snapshot chunk of ${length} bytes at offset ${offset} does not fit a ${fileBytes}-byte file`);
  if (!equalBytes(chunkDigest(b3, bytes), bytes.subarray(72, SNAPSHOT_CHUNK_HEADER_BYTES)))
    fail('DigestMismatch', `snapshot chunk at offset ${offset} of the snapshot at LSN ${lsn} does not match its digest`);
  return {
    shard,
    lsn: Number(lsn),
    fileBytes: Number(fileBytes),
    offset: Number(offset),
    fileDigest: bytes.subarray(40, 72),
    bytes: bytes.subarray(SNAPSHOT_CHUNK_HEADER_BYTES),
  };
}
