/**
 * `SyncLog`: what device sync needs of a local shard log (docs/SYNC.md §5,
 * §7): the events this device wrote, to upload; and an atomic merge of
 * another device's operations together with the cursor they advance, so
 * that a crash mid-pull neither loses nor double-counts anything.
 * `LeaderSyncLog` is the shard leader's; `MemorySyncLog` (testing/) a
 * test's.
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { ChunkEvent } from './format.js';

/** What sync needs of the local shard log. */
export interface SyncLog {
  /** Last LSN of the local log. */
  readonly lastLsn: number;
  /** LSN of the last event this device wrote (not merged from another device); 0 if none. */
  readonly lastLocalLsn: number;
  /** The events this device wrote, from LSN `from` on, in order (events merged from other devices are skipped). */
  localEvents(from: number): AsyncIterable<ChunkEvent>;
  /** How far `device`'s log is merged here (its LSN; 0: nothing). */
  cursor(device: string): number;
  /** Appends `ops` of `device` (one atomic append) and advances its cursor to `lsn`. */
  merge(device: string, lsn: number, ops: readonly CrdtOperation[]): Promise<void>;
  /** Everything this device wrote up to `lsn` is uploaded (the log before it may be compacted). Optional. */
  uploaded?(lsn: number): void;
}
