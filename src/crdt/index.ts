/**
 * Clocks, mergeable state and replica-to-replica reconciliation
 * (docs/CRDT.md). `HLC` stamps writes; `PNCounter`, `LWWRegister` and
 * `GSet` are the CRDTs; `CrdtSignalState` is a shard's state built from
 * them; `ReconciliationEngine` brings two replicas' states together over a
 * `ReconciliationChannel`.
 */
export {
  DEFAULT_MAX_DRIFT_MS,
  HLC,
  HLC_MAX,
  HLC_MAX_COUNTER,
  HLC_MAX_WALL_MS,
  assertHlcTimestamp,
  compareStamps,
  hlcCounter,
  hlcFromParts,
  hlcWallMs,
  isHlcTimestamp,
  type HlcOptions,
  type HlcTimestamp,
} from './hlc.js';
export { MAX_REPLICA_ID_LENGTH, assertReplicaId, isReplicaId, type ReplicaId } from './replica-id.js';
// The values registers and sets hold are the one value codec's (src/common/value.ts).
export {
  MAX_BIGINT_BITS,
  MAX_VALUE_DEPTH,
  canonicalValueBytes,
  compareBytes,
  decodeCanonicalValue,
  encodeCanonicalValue,
  valuesEqual,
  type CrdtValue,
} from '../common/value.js';
export { PNCounter, type PendingSteps, type PNCounterTotals } from './pn-counter.js';
export { LWWRegister } from './lww-register.js';
export { GSet } from './g-set.js';
export {
  MAX_ENTITY_KEY_LENGTH,
  MAX_NAME_LENGTH,
  validateOperation,
  type AddMemberOperation,
  type CounterOperation,
  type CrdtOperation,
  type SetFieldOperation,
} from './operation.js';
export {
  CrdtSignalState,
  STATE_MAGIC,
  STATE_VERSION,
  type CrdtSignalStateOptions,
  type SignalEntityView,
  type SignalEntityVisitor,
} from './signal-state.js';
export { createInMemoryChannelPair, type ReconciliationChannel } from './channel.js';
export { MIN_MESSAGE_BYTES, RECONCILE_VERSION } from './reconciliation-messages.js';
export {
  DEFAULT_LEAF_SIZE,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_RETRIES,
  DEFAULT_MAX_ROUNDS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_RETRY_TIMEOUT_MS,
  DEFAULT_SESSION_IDLE_MS,
  ReconciliationEngine,
  type ReconciliationEngineOptions,
  type ReconciliationReport,
  type ReconciliationRoundReport,
  type ReconciliationStats,
} from './reconciliation-engine.js';
