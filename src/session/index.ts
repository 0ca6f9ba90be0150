/**
 * The session bridge: exactly-once writes across retries, crashes and
 * failover. A tab's `SessionWriter` numbers its writes and resends the
 * unacknowledged ones; a shard's `ShardLeader` checks each against its
 * `IdempotencyStore` (rebuilt from the WAL, so it survives restarts and
 * failover) and applies it once; `waitForToken` gives read-your-writes and
 * monotonic reads on any replica.
 */
export { SessionWriter } from './session-writer.js';
export type { SessionLink, SessionWriterOptions } from './session-writer.js';
export { IdempotencyStore } from './idempotency-store.js';
export type { Admission, IdempotencyStoreOptions } from './idempotency-store.js';
export { ShardLeader } from './shard-leader.js';
export type { ShardLeaderOptions, WriteOutcome } from './shard-leader.js';
export { ShardState } from './shard-state.js';
export { DEFAULT_READ_TIMEOUT_MS, waitForToken } from './read.js';
export type { ReadableReplica } from './read.js';
export { MAX_IDEMPOTENCY_KEY_LENGTH, MAX_OPS_PER_WRITE, asLogEvent, asWriteEvent, validateWriteRequest } from './write.js';
export type {
  ClientOperation,
  ImportEvent,
  LogEvent,
  SeqNo,
  SessionId,
  StateImportEvent,
  WriteEvent,
  WriteRequest,
  WriteToken,
} from './write.js';
