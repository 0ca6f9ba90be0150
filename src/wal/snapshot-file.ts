/**
 * The snapshot file format (docs/FORMAT.md §9): a shard's state at an LSN,
 * so that opening the shard replays only the log after it. The WAL layer
 * knows nothing of what the state is: the body is opaque bytes the layer
 * above encodes (src/session/shard-snapshot.ts). This module turns fields
 * into bytes and back, checking magic, version, lengths and the BLAKE3
 * digest of the whole before it trusts a byte of the body.
 *
 *     const bytes = encodeSnapshot(b3, { shard: 3, databaseId, lsn: 1200, hlcHigh, body });
 *     const snapshot = decodeSnapshot(b3, bytes); // throws a TidalError naming what is wrong
 */
import { DIGEST_BYTES, equalBytes, type Blake3 } from '../common/blake3.js';
import { TidalError, type TidalErrorCode } from '../common/errors.js';
import { assertShardId, type ShardId } from '../shard/shard-id.js';
import { MAX_LSN } from './format.js';

export const SNAPSHOT_HEADER_BYTES = 72;
/** Header and the trailing digest: the size of a snapshot with an empty body. */
export const SNAPSHOT_OVERHEAD_BYTES = SNAPSHOT_HEADER_BYTES + DIGEST_BYTES;
/** Largest snapshot body a reader accepts (1 GiB). */
export const MAX_SNAPSHOT_BODY_BYTES = 1 << 30;

// 'TDSN' read as a little-endian u32.
const SNAPSHOT_MAGIC = 0x4e534454;
const SNAPSHOT_VERSION = 1;

const NAME = /^([0-9a-f]{4})-([0-9a-f]{16})\.snap$/;

/** A shard's state at an LSN, as a snapshot file holds it. */
export interface Snapshot {
  /** The shard whose state this is. */
  readonly shard: ShardId;
  /** BLAKE3-256 of the database's name (UTF-8): a snapshot of another database is refused. */
  readonly databaseId: Uint8Array;
  /** The state holds every event up to this LSN, and none after it. */
  readonly lsn: number;
  /** The highest HLC the state holds (0 when none). */
  readonly hlcHigh: bigint;
  /** The state, encoded by the layer that owns it. */
  readonly body: Uint8Array;
}

function fail(code: TidalErrorCode, message: string): never {
  throw new TidalError(code, message);
}

/** The file name of shard `shard`'s snapshot at `lsn`: `<shard as 4 hex>-<lsn as 16 hex>.snap`, sorting in LSN order. */
export function snapshotFileName(shard: ShardId, lsn: number): string {
  return `${shard.toString(16).padStart(4, '0')}-${lsn.toString(16).padStart(16, '0')}.snap`;
}

/** The shard and LSN a snapshot file name says, or `undefined` for any other name. */
export function parseSnapshotFileName(name: string): { shard: ShardId; lsn: number } | undefined {
  const match = NAME.exec(name);
  if (!match) return undefined;
  const lsn = Number.parseInt(match[2]!, 16);
  if (!Number.isSafeInteger(lsn) || lsn < 1) return undefined;
  return { shard: Number.parseInt(match[1]!, 16), lsn };
}

/** Encodes a snapshot: header, body, and the BLAKE3 of both. */
export function encodeSnapshot(b3: Blake3, snapshot: Snapshot): Uint8Array {
  assertShardId(snapshot.shard);
  if (!Number.isSafeInteger(snapshot.lsn) || snapshot.lsn < 1)
    fail('InvalidArgument', `snapshot LSN must be in 1..2^53-1, got ${snapshot.lsn}`);
  if (snapshot.databaseId.length !== DIGEST_BYTES) fail('InvalidArgument', `database id must be ${DIGEST_BYTES} bytes`);
  if (snapshot.body.length > MAX_SNAPSHOT_BODY_BYTES)
    fail('PayloadTooLarge', `snapshot body of ${snapshot.body.length} bytes is over 1 GiB`);
  const bytes = new Uint8Array(SNAPSHOT_OVERHEAD_BYTES + snapshot.body.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint16(4, SNAPSHOT_VERSION, true);
  view.setUint16(8, snapshot.shard, true);
  view.setBigUint64(16, BigInt(snapshot.lsn), true);
  view.setBigUint64(24, snapshot.hlcHigh, true);
  view.setBigUint64(32, BigInt(snapshot.body.length), true);
  bytes.set(snapshot.databaseId, 40);
  bytes.set(snapshot.body, SNAPSHOT_HEADER_BYTES);
  const digestAt = bytes.length - DIGEST_BYTES;
  bytes.set(b3.hash(bytes.subarray(0, digestAt)), digestAt);
  return bytes;
}

/**
 * Decodes and verifies a snapshot file's bytes, in the order docs/FORMAT.md
 * §9.3 gives: `Truncated` (a torn file), `BadMagic`, `UnsupportedVersion`,
 * `UnsupportedFlags`, `ReservedNotZero`, `LengthOutOfBounds`,
 * `DigestMismatch`. The body is a view of `bytes`.
 */
export function decodeSnapshot(b3: Blake3, bytes: Uint8Array): Snapshot {
  if (bytes.length < SNAPSHOT_HEADER_BYTES)
    fail('Truncated', `snapshot needs at least ${SNAPSHOT_OVERHEAD_BYTES} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SNAPSHOT_MAGIC) fail('BadMagic', 'snapshot does not start with magic TDSN');
  const version = view.getUint16(4, true);
  if (version !== SNAPSHOT_VERSION) {
    fail(
      'UnsupportedVersion',
      `snapshot version ${version} is not supported (this build reads ${SNAPSHOT_VERSION}); it may have been written by a newer tidal`,
    );
  }
  const flags = view.getUint16(6, true);
  if (flags !== 0) fail('UnsupportedFlags', `snapshot has unknown flags 0x${flags.toString(16)}`);
  if (view.getUint16(10, true) !== 0 || view.getUint32(12, true) !== 0)
    fail('ReservedNotZero', 'snapshot reserved bytes 10..16 are not zero');
  const lsn = view.getBigUint64(16, true);
  if (lsn < 1n || lsn > BigInt(MAX_LSN)) fail('LengthOutOfBounds', `snapshot LSN ${lsn} is outside 1..2^53-1`);
  const bodyLength = view.getBigUint64(32, true);
  if (bodyLength > BigInt(MAX_SNAPSHOT_BODY_BYTES))
    fail('LengthOutOfBounds', `snapshot claims a ${bodyLength}-byte body, over the 1 GiB bound`);
  const expected = SNAPSHOT_OVERHEAD_BYTES + Number(bodyLength);
  if (bytes.length < expected) fail('Truncated', `snapshot claims ${expected} bytes, the file has ${bytes.length}: it was cut short`);
  if (bytes.length > expected) fail('LengthOutOfBounds', `snapshot claims ${expected} bytes, the file has ${bytes.length}`);
  const digestAt = expected - DIGEST_BYTES;
  if (!equalBytes(b3.hash(bytes.subarray(0, digestAt)), bytes.subarray(digestAt))) {
    fail('DigestMismatch', 'snapshot digest does not match its bytes');
  }
  return {
    shard: view.getUint16(8, true),
    databaseId: bytes.subarray(40, SNAPSHOT_HEADER_BYTES),
    lsn: Number(lsn),
    hlcHigh: view.getBigUint64(24, true),
    body: bytes.subarray(SNAPSHOT_HEADER_BYTES, digestAt),
  };
}
