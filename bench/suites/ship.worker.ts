/**
 * The worker side of the `ship` bench suite (`ship.ts`): one module, its
 * roles in `ship/`, each played in its own dedicated worker (OPFS sync
 * handles exist only there), driven over comlink by the suite.
 *
 * - **Leader** (`ship/leader.ts`): a WAL on OPFS and a `WalShipper` over a
 *   link to the follower worker (a `MessagePort`, transferring or cloning,
 *   or a `BroadcastChannel`).
 * - **Follower** (`ship/follower.ts`): a `FollowerDb` on OPFS applying into
 *   a state machine that only records time.
 * - **Verifier** (`ship/verifier.ts`): verifies and acknowledges each
 *   payload, nothing else (the shipping metric's receiver).
 * - **Receive path** (`ship/receive-path.ts`): what the follower's receive
 *   path is made of, measured on the same segment bytes, so that a missed
 *   target can be explained.
 *
 * What they share (addresses, links, folders, the cross-realm clock) is in
 * `ship/common.ts`. Every file lives under `tidal-bench/ship-<uuid>/`,
 * deleted by `cleanup()`.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../../src/common/blake3.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { ROOT, now, runFolder } from './ship/common.js';
import { closeFollowing, followerApi } from './ship/follower.js';
import { closeLeader, leaderApi } from './ship/leader.js';
import { clearSegments, receivePathApi } from './ship/receive-path.js';
import { closeVerifying, verifierApi } from './ship/verifier.js';

export type { ReceivePathBreakdown, ShipLink, ShipLogShape, ShipRoundResult } from './ship/common.js';

const api = {
  /** This realm's clock, for the suite's cross-realm check. */
  now,

  /** Loads BLAKE3 (so that no round pays for its instantiation). */
  async warmUp(): Promise<void> {
    await loadBlake3();
  },

  ...leaderApi,
  ...followerApi,
  ...verifierApi,
  ...receivePathApi,

  /** Closes whatever is open and deletes this worker's folders. */
  async cleanup(): Promise<void> {
    await closeVerifying();
    await closeLeader();
    await closeFollowing();
    clearSegments();
    await OpfsStorage.destroy([ROOT, runFolder]);
  },
};

/** The worker's comlink API. */
export type ShipBenchWorker = typeof api;

Comlink.expose(api);
