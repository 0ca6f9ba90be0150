/**
 * The write-ahead log: segment and batch formats (docs/FORMAT.md), the
 * event payload encoding (docs/PAYLOAD.md), the `Wal` of one shard with
 * group commit and recovery, and the storage it sits on (memory, OPFS).
 */
export { WalSegmentId } from './segment-id.js';
export { Wal } from './wal.js';
export type {
  CommittedBatch,
  LsnRange,
  WalReadOptions,
  RecoveryIssue,
  RecoveryReport,
  WalBatch,
  WalOptions,
  WalSegmentInfo,
} from './wal.js';
export type { WalFile, WalStorage } from './storage.js';
export { MemoryStorage } from './memory-storage.js';
export { OpfsStorage, hasOpfsSyncAccess } from './opfs-storage.js';
export { MAX_PAYLOAD_DEPTH, PAYLOAD_VERSION, decodePayload, decodeValue, encodePayload, encodeValue } from './payload.js';
export type { Value } from './payload.js';
export {
  BATCH_HEADER_V1_BYTES,
  BATCH_HEADER_V2_BYTES,
  MAX_LSN,
  SEGMENT_FOOTER_BYTES,
  SEGMENT_HEADER_BYTES,
  decodeBatch,
  decodeSegmentFooter,
  decodeSegmentHeader,
} from './format.js';
export type { BatchHeader, DecodedBatch, SegmentFooter, SegmentHeader } from './format.js';
export { scanSegment } from './segment-scan.js';
export type { SegmentScan } from './segment-scan.js';
export type { Snapshot } from './snapshot-file.js';
