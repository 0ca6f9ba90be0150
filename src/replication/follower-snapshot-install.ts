/**
 * A `FollowerDb`'s snapshot install: the chunks of a snapshot its leader
 * ships (docs/FORMAT.md §7.3) are gathered and verified by
 * `FollowerSnapshots`; once the snapshot is whole, verified and newer than
 * what is applied, it is restored into a fresh state machine first (a body
 * that does not decode installs nothing), then the follower's log starts
 * over after its LSN, which the leader's log then continues.
 *
 *     if (isSnapshotChunk(bytes)) await installSnapshotChunk(context, bytes);
 */
import { isTidalError } from '../common/errors.js';
import type { FollowerContext } from './follower-receive.js';
import type { StateMachine } from './state-machine.js';

/** Takes one chunk of a snapshot the leader ships; installs the snapshot once it is whole (see the module comment). */
export async function installSnapshotChunk(context: FollowerContext, bytes: Uint8Array): Promise<void> {
  const { snapshots, counters, follower, leaderStatus, clock, acks, held, waiters } = context;
  let outcome;
  try {
    outcome = snapshots.accept(bytes);
  } catch (error) {
    if (!isTidalError(error)) throw error;
    counters.snapshotChunksRejected++;
    context.request('rejected');
    return;
  }
  follower.lastProgressAt = clock.now();
  leaderStatus.lastHeardAt = follower.lastProgressAt;
  counters.bytesVerified += bytes.byteLength;
  if (outcome.kind === 'partial') return;
  const { snapshot } = outcome;
  leaderStatus.saw(snapshot.lsn);
  if (snapshot.lsn <= follower.applied) {
    counters.duplicates++;
    acks.now();
    return;
  }
  let machine: StateMachine | undefined;
  try {
    machine = snapshots.restore(snapshot, follower.machine !== undefined);
  } catch (error) {
    if (!isTidalError(error)) throw error;
    counters.snapshotChunksRejected++;
    context.request('rejected');
    return;
  }
  await snapshots.install(context.wal, snapshot);
  follower.machine = machine;
  held.clear();
  follower.applied = snapshot.lsn;
  counters.snapshotsInstalled++;
  waiters.reached(follower.applied);
  acks.now();
}
