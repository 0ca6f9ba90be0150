/**
 * `FollowerSnapshots`: how a follower takes the snapshot its leader ships
 * in chunks (docs/FORMAT.md §7.3). The chunks are assembled and verified
 * whole (`SnapshotReceiver`) before anything of them is used; the snapshot
 * is restored into a fresh state machine (a body that does not decode
 * installs nothing); only then does the follower's copy of the log start
 * over after the snapshot's LSN, with the snapshot kept beside it (with a
 * `databaseId`) so that the copy reopens.
 *
 *     const outcome = snapshots.accept(bytes);        // throws a TidalError for a bad chunk
 *     if (outcome.kind === 'complete') {
 *       const machine = snapshots.restore(outcome.snapshot, hadMachine); // throws: nothing installed
 *       await snapshots.install(wal, outcome.snapshot);
 *     }
 */
import type { Blake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Snapshot } from '../wal/snapshot-file.js';
import { SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import type { Wal } from '../wal/wal.js';
import type { FollowerSnapshotOptions } from './follower-options.js';
import { SnapshotReceiver, type SnapshotChunkOutcome } from './snapshot-receiver.js';
import type { StateMachine } from './state-machine.js';

/** One follower's intake of shipped snapshots. */
export class FollowerSnapshots {
  private readonly shard: ShardId;
  private readonly options: FollowerSnapshotOptions | undefined;
  private readonly receiver: SnapshotReceiver;
  /** Where installed snapshots are kept (with a copy of the log and `options.databaseId`). */
  private readonly store: SnapshotStore | undefined;

  /** Without `options`, every chunk is refused. */
  constructor(b3: Blake3, storage: WalStorage | undefined, shard: ShardId, options: FollowerSnapshotOptions | undefined) {
    this.shard = shard;
    this.options = options;
    const databaseId = options?.databaseId;
    this.receiver = new SnapshotReceiver(b3, {
      shard,
      ...(databaseId ? { databaseId } : {}),
      ...(options?.maxBytes ? { maxFileBytes: options.maxBytes } : {}),
    });
    this.store = databaseId && storage ? new SnapshotStore(storage, b3, { shard, databaseId }) : undefined;
  }

  /** Takes one chunk; throws a `TidalError` for a chunk refused (or when the follower takes no snapshots). */
  accept(bytes: Uint8Array): SnapshotChunkOutcome {
    if (!this.options) throw new TidalError('InvalidArgument', `follower of shard ${this.shard} does not take snapshots`);
    return this.receiver.accept(bytes);
  }

  /**
   * The state machine holding a verified snapshot's state (`undefined` for
   * a follower that applies to none). Throws a `TidalError` when it is
   * refused: nothing is installed then.
   */
  restore(snapshot: Snapshot, hasMachine: boolean): StateMachine | undefined {
    const machine = this.options?.restore?.(snapshot);
    if (hasMachine && !machine) throw new TidalError('InvalidArgument', 'snapshots.restore returned no state machine');
    return machine;
  }

  /** Starts the follower's copy of the log (if it keeps one) over after the snapshot's LSN, and keeps the snapshot beside it. */
  async install(wal: Wal | undefined, snapshot: Snapshot): Promise<void> {
    if (!wal) return;
    await wal.restartAfter(snapshot.lsn);
    if (this.store) {
      await this.store.write({ lsn: snapshot.lsn, hlcHigh: snapshot.hlcHigh, body: snapshot.body });
      await this.store.prune(1);
    }
  }
}
