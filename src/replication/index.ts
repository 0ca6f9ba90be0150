/**
 * Replication: a shard leader's `WalShipper` ships its committed log to
 * `FollowerDb` replicas over any `Transport`; followers verify, apply in LSN
 * order exactly once, keep a copy of the log if given storage, acknowledge, and ask
 * for what they lack.
 */
export { WalShipper } from './wal-shipper.js';
export type { FollowerCursor, SnapshotFileBytes, SnapshotSource, WalShipperOptions, WalShipperStats } from './wal-shipper-options.js';
export { FollowerDb } from './follower-db.js';
export type { FollowerCounters, FollowerDbOptions, FollowerLag, FollowerSnapshotOptions } from './follower-options.js';
export { EventLog } from './state-machine.js';
export type { PreparedEvent, StateMachine } from './state-machine.js';
export { CONTROL_VERSION, decodeControl, encodeControl } from './messages.js';
export type { AckMessage, ControlMessageBody, RequestMessage, RequestReason, StatusMessage } from './messages.js';
export { reconciliationChannel } from './reconciliation-link.js';
export type { TransportReconciliationChannel } from './reconciliation-link.js';
