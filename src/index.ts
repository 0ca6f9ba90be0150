/**
 * tidal's public API, listed in one place.
 *
 * Most applications need only `openTidal`: a database in the page, with a
 * worker per shard, replication between workers and tabs, and recovery.
 *
 * The layers, bottom up: a shard's write-ahead log (`Wal`, on
 * `MemoryStorage` or `OpfsStorage`), key placement (`ShardRouter`),
 * transports between workers and tabs, leader/follower replication
 * (`WalShipper`, `FollowerDb`), CRDT state on hybrid logical clocks with
 * anti-entropy (`CrdtSignalState`, `ReconciliationEngine`), and the session
 * bridge for exactly-once writes (`SessionWriter`, `ShardLeader`).
 */
export { openTidal } from './worker/index.js';
export type {
  Change,
  Entity,
  OpenTidalOptions,
  ReadOptions,
  ShardStats,
  TidalDb,
  TidalDebug,
  TidalStats,
  WriteOptions,
} from './worker/index.js';

export { TidalError, isTidalError } from './common/index.js';
export type { TidalErrorCode } from './common/index.js';

export { MAX_SHARDS, ShardRouter } from './shard/index.js';
export type { ShardId, ShardRouterOptions } from './shard/index.js';

export { MemoryStorage, OpfsStorage, Wal, WalSegmentId, hasOpfsSyncAccess } from './wal/index.js';
export type {
  LsnRange,
  RecoveryIssue,
  RecoveryReport,
  Value,
  WalBatch,
  WalFile,
  WalOptions,
  WalSegmentInfo,
  WalStorage,
} from './wal/index.js';

export {
  BroadcastChannelTransport,
  InProcessNetwork,
  InProcessTransport,
  MessagePortTransport,
  TransportError,
} from './transport/index.js';
export type {
  PeerAddress,
  Transport,
  TransportAddress,
  TransportCounters,
  TransportOptions,
  WalSegmentPayload,
} from './transport/index.js';

export { EventLog, FollowerDb, WalShipper } from './replication/index.js';
export type {
  FollowerCounters,
  FollowerDbOptions,
  FollowerLag,
  StateMachine,
  WalShipperOptions,
  WalShipperStats,
} from './replication/index.js';
export { reconciliationChannel } from './replication/index.js';

export { CrdtSignalState, GSet, HLC, LWWRegister, PNCounter, ReconciliationEngine } from './crdt/index.js';
export type {
  CrdtOperation,
  CrdtSignalStateOptions,
  HlcOptions,
  HlcTimestamp,
  ReconciliationChannel,
  ReconciliationEngineOptions,
  ReconciliationReport,
  ReplicaId,
  SignalEntityView,
} from './crdt/index.js';

export { IdempotencyStore, SessionWriter, ShardLeader, ShardState, waitForToken } from './session/index.js';
export type {
  ClientOperation,
  IdempotencyStoreOptions,
  SeqNo,
  SessionId,
  SessionLink,
  SessionWriterOptions,
  ShardLeaderOptions,
  WriteRequest,
  WriteToken,
} from './session/index.js';
