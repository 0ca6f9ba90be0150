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
export { PROTOCOL_VERSION, installTidalErrorHandler, openTidal } from './worker/index.js';
export type {
  Change,
  Entity,
  OpenTidalOptions,
  ReadOptions,
  ShardOpenTimes,
  ShardStats,
  ShardSyncStats,
  SnapshotTaken,
  TidalDb,
  TidalDebug,
  TidalStats,
  TidalSync,
  TidalSyncStats,
  TidalTransaction,
  TransactResult,
  WriteOptions,
} from './worker/index.js';

export { MemoryRemote, S3Remote, SyncKeys, deriveUserKey, generateUserKey, parseUserKey } from './sync/index.js';
export type {
  ByteRange,
  GetOptions,
  ListOptions,
  MemoryRemoteCounters,
  MemoryRemoteOptions,
  ObjectNameStream,
  PutOutcome,
  Remote,
  RemoteEntry,
  RemoteListing,
  RemoteObject,
  S3RemoteCounters,
  S3RemoteOptions,
  SyncOptions,
  SyncRunnerStats,
} from './sync/index.js';

export { Decoder, Encoder, TidalError, isTidalError, loadBlake3 } from './common/index.js';
export type { Blake3, Blake3Reservation, Clock, IncrementalBlake3, TidalErrorCode, TimerHandle } from './common/index.js';

export { MAX_SHARDS, ShardRouter } from './shard/index.js';
export type { ShardId, ShardRouterOptions } from './shard/index.js';

export { MemoryStorage, OpfsStorage, Wal, WalSegmentId, hasOpfsSyncAccess } from './wal/index.js';
export type {
  BatchHeader,
  CommittedBatch,
  LsnRange,
  RecoveryIssue,
  RecoveryReport,
  Snapshot,
  Value,
  WalBatch,
  WalFile,
  WalOptions,
  WalReadOptions,
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
  BroadcastChannelTransportOptions,
  ControlMessage,
  ControlWireMessage,
  DropReason,
  EndpointTransportOptions,
  InProcessInterceptor,
  MessagePortTransportOptions,
  PeerAddress,
  ReceivedSegment,
  SegmentWireMessage,
  Transport,
  TransportAddress,
  TransportCounters,
  TransportEndpoint,
  TransportErrorCode,
  TransportOptions,
  WalSegmentPayload,
  WireMessage,
} from './transport/index.js';

export { EventLog, FollowerDb, WalShipper, reconciliationChannel } from './replication/index.js';
export type {
  FollowerCounters,
  FollowerCursor,
  FollowerDbOptions,
  FollowerLag,
  FollowerSnapshotOptions,
  SnapshotFileBytes,
  SnapshotSource,
  PreparedEvent,
  StateMachine,
  TransportReconciliationChannel,
  WalShipperOptions,
  WalShipperStats,
} from './replication/index.js';

export { CrdtSignalState, GSet, HLC, LWWRegister, PNCounter, ReconciliationEngine } from './crdt/index.js';
export type {
  AddMemberOperation,
  CounterOperation,
  CrdtOperation,
  CrdtSignalStateOptions,
  CrdtValue,
  HlcOptions,
  HlcTimestamp,
  PendingSteps,
  PNCounterTotals,
  ReconciliationChannel,
  ReconciliationEngineOptions,
  ReconciliationReport,
  ReconciliationRoundReport,
  ReconciliationStats,
  ReplicaId,
  SetFieldOperation,
  SignalEntityView,
  SignalEntityVisitor,
} from './crdt/index.js';

export { IdempotencyStore, SessionWriter, ShardLeader, ShardState, waitForToken } from './session/index.js';
export type {
  Admission,
  ClientOperation,
  IdempotencyStoreOptions,
  ImportEvent,
  LogEvent,
  ReadableReplica,
  SeqNo,
  SessionId,
  SessionLink,
  SessionWriterOptions,
  ShardLeaderOptions,
  StateImportEvent,
  WriteEvent,
  WriteOutcome,
  WriteRequest,
  WriteToken,
} from './session/index.js';
