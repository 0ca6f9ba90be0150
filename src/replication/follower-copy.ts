/**
 * Opening a follower's own copy of its leader's log: recovered and
 * checked (a copy with holes, or one that starts after a snapshot no
 * longer kept beside it, is refused as `Corrupt` rather than applied in
 * part), then replayed into the state machine, from the kept snapshot's
 * state when the copy starts after one.
 *
 *     const { wal, report, stateMachine } = await openFollowerCopy(b3, options);
 */
import type { Blake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal, type RecoveryReport } from '../wal/wal.js';
import type { FollowerDbOptions } from './follower-options.js';
import type { StateMachine } from './state-machine.js';

/** A follower's copy as opened: its log, what recovery found, and the state it replayed into. */
export interface FollowerCopy {
  readonly wal: Wal;
  readonly report: RecoveryReport;
  /** The state machine the copy was replayed into (a fresh one restored from a snapshot when the copy starts after LSN 1). */
  readonly stateMachine: StateMachine | undefined;
}

/** Opens the follower's copy on `options.storage` and replays it into `options.stateMachine`. */
export async function openFollowerCopy(b3: Blake3, options: FollowerDbOptions & { readonly storage: WalStorage }): Promise<FollowerCopy> {
  const { wal, report } = await Wal.open(options.storage, {
    shard: options.shard,
    durable: options.durable ?? true,
    ...(options.segmentBytes ? { segmentBytes: options.segmentBytes } : {}),
  });
  if (wal.missingRanges().length > 0) {
    // A copy with holes cannot be replayed in order: refuse it rather than apply part of it.
    await wal.close();
    throw new TidalError(
      'Corrupt',
      `follower copy of shard ${options.shard} has lost LSNs ${JSON.stringify(wal.missingRanges())}; remove it and let it be rebuilt from the leader`,
    );
  }
  let stateMachine = options.stateMachine;
  let from = 1;
  if (wal.firstLsn > 1) {
    // The copy starts after a snapshot the leader shipped: the state starts from that snapshot.
    const restored = await restoreCopy(wal, b3, options);
    stateMachine = restored.stateMachine;
    from = restored.lsn + 1;
  }
  // Wal.open has just verified every byte of the copy: the replay checks structure only.
  if (stateMachine && from <= wal.lastLsn) {
    for await (const { lsn, event } of wal.read(from, { verify: false })) stateMachine.apply(lsn, event);
  }
  return { wal, report, stateMachine };
}

/**
 * The state a follower's copy starts from when the copy starts after LSN 1
 * (a snapshot the leader shipped was installed): the snapshot kept beside
 * the copy, restored. `Corrupt` when there is none that reaches the copy.
 */
async function restoreCopy(
  wal: Wal,
  b3: Blake3,
  options: FollowerDbOptions & { readonly storage: WalStorage },
): Promise<{ stateMachine: StateMachine | undefined; lsn: number }> {
  const databaseId = options.snapshots?.databaseId;
  const store = databaseId ? new SnapshotStore(options.storage, b3, { shard: options.shard, databaseId }) : undefined;
  const { snapshot } = store ? await store.loadNewest({ maxLsn: wal.lastLsn }) : { snapshot: undefined };
  if (!snapshot || snapshot.lsn < wal.firstLsn - 1) {
    await wal.close();
    throw new TidalError(
      'Corrupt',
      `follower copy of shard ${options.shard} starts at LSN ${wal.firstLsn} and no snapshot kept beside it reaches there; remove it and let it be rebuilt from the leader`,
    );
  }
  try {
    const stateMachine = options.stateMachine ? options.snapshots!.restore!(snapshot) : undefined;
    return { stateMachine, lsn: snapshot.lsn };
  } catch (error) {
    await wal.close();
    throw error;
  }
}
