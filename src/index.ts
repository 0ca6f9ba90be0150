/**
 * tidal's public API, listed in one place.
 *
 * Today it is the storage and replication core: a shard's write-ahead log
 * (`Wal`, on `MemoryStorage` or `OpfsStorage`), key placement
 * (`ShardRouter`), transports between workers and tabs, and the
 * leader/follower replication on top of them (`WalShipper`, `FollowerDb`).
 */
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

export { BroadcastChannelTransport, InProcessNetwork, InProcessTransport, MessagePortTransport, TransportError } from './transport/index.js';
export type { PeerAddress, Transport, TransportAddress, TransportCounters, TransportOptions, WalSegmentPayload } from './transport/index.js';

export { EventLog, FollowerDb, WalShipper } from './replication/index.js';
export type { FollowerCounters, FollowerDbOptions, FollowerLag, StateMachine, WalShipperOptions, WalShipperStats } from './replication/index.js';
