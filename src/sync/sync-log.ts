/**
 * `SyncLog`: what device sync needs of a local shard log (docs/SYNC.md §5,
 * §7): the events this device wrote, to upload; and an atomic merge of
 * another device's operations together with the cursor they advance, so
 * that a crash mid-pull neither loses nor double-counts anything.
 * `LeaderSyncLog` is the shard leader's; `MemorySyncLog` (testing/) a
 * test's.
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { CrdtSignalState } from '../crdt/signal-state.js';
import type { SnapshotSource } from './format.js';

/** An event this device wrote, as its log holds it: what a chunk carries (docs/SYNC.md §5). */
export interface LocalEvent {
  readonly lsn: number;
  /** The event's encoding in the log (one value of the log's codec, a write event); valid until the next event is asked for. */
  readonly bytes: Uint8Array;
}

/** What sync needs of the local shard log. */
export interface SyncLog {
  /** Last LSN of the local log. */
  readonly lastLsn: number;
  /** LSN of the last event this device wrote (not merged from another device); 0 if none. */
  readonly lastLocalLsn: number;
  /** The events this device wrote, from LSN `from` on, in order, as the log holds them (events merged from other devices are skipped). */
  localEvents(from: number): AsyncIterable<LocalEvent>;
  /** How far `device`'s log is merged here (its LSN; 0: nothing). */
  cursor(device: string): number;
  /** Appends `ops` of `device` (one atomic append) and advances its cursor to `lsn`. */
  merge(device: string, lsn: number, ops: readonly CrdtOperation[]): Promise<void>;
  /** The first LSN the local log still holds (compaction drops the segments a local snapshot covers). */
  readonly firstLsn: number;
  /** Holds back compaction of the log from `fromLsn` on: what this device's uploads do not cover yet. */
  retain(fromLsn: number): void;
  /**
   * The shard's CRDT state now, at the last LSN applied, with how far it
   * merged each other device: the state's bytes
   * (`CrdtSignalState.encode()`), or the state itself, encoded straight
   * into the snapshot's body before the log changes (no copy of its bytes).
   */
  snapshot(): SnapshotSource;
  /**
   * Merges another device's snapshot `state` and advances each device's
   * cursor to `cursors` (those not merged that far yet), as one atomic
   * append. Merging state is idempotent: what was merged already counts
   * nothing twice. `stateBytes`: the state's encoding as the snapshot held
   * it (`state` is it decoded), which the log may keep as it is; `state`
   * may be taken over (not used after). `inPlace`: the buffer `stateBytes`
   * views is given away with them, and the log may write into it around
   * them (to log them where they are, not copied).
   */
  mergeState(cursors: ReadonlyMap<string, number>, state: CrdtSignalState, stateBytes: Uint8Array, inPlace?: boolean): Promise<void>;
}
