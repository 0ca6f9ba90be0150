/**
 * Opening a shard from its newest snapshot (`restoreFromSnapshot`): the
 * newest snapshot that verifies (every byte, docs/FORMAT.md §9.3; refused
 * ones are quarantined and reported) is loaded into a fresh state, and only
 * the log after its LSN is replayed. Without one, the whole log is. Taking
 * snapshots is `ShardSnapshots` (shard-snapshots.ts).
 *
 *     const opened = await restoreFromSnapshot({ wal, store, state });
 *     if (opened.issues.length > 0) console.warn('refused snapshots', opened.issues);
 */
import { TidalError } from '../common/errors.js';
import type { SnapshotIssue, SnapshotStore } from '../wal/snapshot-store.js';
import type { Wal } from '../wal/wal.js';
import { restoreShardSnapshot } from './shard-snapshot.js';
import type { ShardState } from './shard-state.js';

/** What opening from a snapshot did. */
export interface SnapshotRestore {
  /** The snapshot's LSN (0 when the whole log was replayed). */
  readonly snapshotLsn: number;
  readonly snapshotBytes: number;
  /** The snapshot's file name (empty when the whole log was replayed). */
  readonly snapshotFile: string;
  /** Events replayed from the log after the snapshot. */
  readonly replayedEvents: number;
  /** Milliseconds: loading and verifying the snapshot and decoding it into the state. */
  readonly snapshotMs: number;
  /** Milliseconds: replaying the log after it. */
  readonly replayMs: number;
  /** Snapshots refused (and quarantined) on the way. */
  readonly issues: readonly SnapshotIssue[];
}

/**
 * Fills a fresh `state` from the newest verified snapshot and the log after
 * it. `replay` lets the caller apply the log its own way (yielding, say);
 * by default every event from `fromLsn` is applied. Throws `Corrupt` when
 * the log does not reach back to the snapshot (or to LSN 1 without one).
 */
export async function restoreFromSnapshot(options: {
  wal: Wal;
  store: SnapshotStore;
  state: ShardState;
  now?: () => number;
  replay?: (fromLsn: number) => Promise<void>;
}): Promise<SnapshotRestore> {
  const { wal, store, state } = options;
  const now = options.now ?? (() => performance.now());
  const started = now();
  const { snapshot, issues } = await store.loadNewest({ maxLsn: wal.lastLsn });
  if (snapshot) restoreShardSnapshot(state, snapshot.body, snapshot.lsn);
  const from = (snapshot?.lsn ?? 0) + 1;
  if (from < wal.firstLsn) {
    throw new TidalError(
      'Corrupt',
      `shard ${wal.shard}: the log starts at LSN ${wal.firstLsn}, but ${snapshot ? `the newest snapshot that verifies is at ${snapshot.lsn}` : 'no snapshot verifies'}: LSNs ${from}..${wal.firstLsn - 1} are in none`,
    );
  }
  const loaded = now();
  const before = state.appliedLsn;
  if (options.replay) await options.replay(from);
  else for await (const { lsn, event } of wal.read(from, { verify: false })) state.apply(lsn, event);
  return {
    snapshotLsn: snapshot?.lsn ?? 0,
    snapshotBytes: snapshot?.bytes ?? 0,
    snapshotFile: snapshot?.file ?? '',
    replayedEvents: state.appliedLsn - before,
    snapshotMs: loaded - started,
    replayMs: now() - loaded,
    issues,
  };
}
