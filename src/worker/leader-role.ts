/**
 * The leader role of one shard's worker: what it owns while it leads (the
 * open log, the `ShardLeader`, its snapshots and compaction, the shippers)
 * and how it is set up once the log is open and torn down when the lead is
 * given up. `leadership.ts` decides when; this file holds what.
 */
import type { Clock } from '../common/clock.js';
import { loadBlake3 } from '../common/blake3.js';
import { WalShipper, type SnapshotSource } from '../replication/wal-shipper.js';
import { ShardLeader } from '../session/shard-leader.js';
import { ShardSnapshots, type ShutdownSnapshot } from '../session/shard-snapshots.js';
import { BroadcastChannelTransport } from '../transport/broadcast-channel.js';
import type { PeerAddress } from '../transport/address.js';
import type { DropReason } from '../transport/transport.js';
import { databaseIdOf, SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import type { Wal } from '../wal/wal.js';
import type { ShardOpenTimes } from './api.js';
import type { ChangeFeed, ObservedState } from './change-feed.js';
import { shardChannels } from './channels.js';
import { shippingLink, stopShipping, type LogShipping } from './in-tab-follower.js';
import { replayShard } from './leader-recovery.js';
import type { ShardHostConfig } from './shard-host-config.js';

/** How a leader compacts its log (followers acknowledge, and sync uploads, after a snapshot is taken). */
const COMPACT_MS = 2000;

/** A worker that leads its shard, with what it owns in that role. */
export interface LeaderRole {
  readonly kind: 'leader';
  readonly state: ObservedState;
  readonly wal: Wal;
  readonly leader: ShardLeader;
  /** The leader's snapshots (the shard opens from the newest; new ones by the default policy). */
  readonly snapshots: ShardSnapshots;
  /** The newest snapshot, for the shippers to send to followers the log cannot serve. */
  readonly snapshotSource: SnapshotSource;
  /** How long opening the shard took, step by step (`stats()`). */
  readonly opened: ShardOpenTimes;
  /** Stops calling the snapshot policy after each commit, and the compaction timer. */
  readonly stopSnapshotting: () => void;
  /** The log shipped to the other tabs, on the shard's log channel. */
  readonly crossTab: LogShipping;
  /** The log shipped to this tab's in-tab follower, once it is wired. */
  inTab: LogShipping | undefined;
}

/** What setting up the leader role needs: the log just opened, and how the worker is wired. */
export interface LeaderRoleOptions {
  readonly config: ShardHostConfig;
  readonly clock: Clock;
  readonly feed: ChangeFeed;
  readonly storage: WalStorage;
  readonly wal: Wal;
  /** How long the log's tail took to recover and verify (`openShardWal`). */
  readonly tailMs: number;
  /** This worker's address on the shard's log channel. */
  readonly address: PeerAddress;
  /** The log channel's `onDrop`. */
  readonly onLogDrop: (reason: DropReason, detail: string, version?: number) => void;
  /** True while the lead may have been lost unawares: no snapshot is taken and nothing compacted meanwhile. */
  readonly leadInDoubt: () => boolean;
}

/**
 * The leader role over an open log: a fresh state from the newest snapshot
 * and the log after it (a follower's state may lag what the old leader
 * wrote), the snapshot policy and compaction, the `ShardLeader`, and the
 * log shipped to the other tabs.
 */
export async function openLeaderRole(options: LeaderRoleOptions): Promise<LeaderRole> {
  const { config, clock, wal } = options;
  const b3 = await loadBlake3();
  const store = new SnapshotStore(options.storage, b3, { shard: config.shard, databaseId: databaseIdOf(b3, config.db) });
  const { state, snapshot, snapshotMs, rebuildMs, replayedEvents } = await replayShard({ wal, store, feed: options.feed, clock });
  const snapshots = new ShardSnapshots({ wal, store, state, clock, ...(snapshot ? { latest: snapshot } : {}) });
  // Which snapshots are kept matters only to compaction, which waits for it (no floor while none are
  // known): listed meanwhile, not before the shard is led (a listing and a handle per snapshot file).
  void snapshots.listKept().catch(() => undefined);
  // Neither runs while the lead is in doubt: a leader that stood still may have lost it unawares.
  const stopPolicy = wal.onCommit(() => {
    if (!options.leadInDoubt()) snapshots.afterCommit();
  });
  const stopCompacting = clock.every(COMPACT_MS, () => {
    if (!options.leadInDoubt()) void snapshots.compactLog().catch(() => undefined);
  });
  const stopSnapshotting = () => {
    stopPolicy();
    stopCompacting();
  };
  const leader = await ShardLeader.open({ wal, replica: `${config.tabId}.${config.shard}`, state, clock });
  const link = shippingLink(
    new BroadcastChannelTransport(new BroadcastChannel(shardChannels(config.db, config.shard).log), {
      local: options.address,
      onDrop: options.onLogDrop,
    }),
    config.debug,
  );
  const source = snapshotSource(snapshots, store);
  const shipper = new WalShipper({ wal, transport: link, admit: () => true, snapshots: source, clock });
  shipper.start();
  return {
    kind: 'leader',
    state,
    wal,
    leader,
    snapshots,
    snapshotSource: source,
    opened: { tailMs: options.tailMs, snapshotMs, rebuildMs, replayedEvents },
    stopSnapshotting,
    crossTab: { link, shipper },
    inTab: undefined,
  };
}

/**
 * Tears the leader role down: shipping stopped, snapshots and compaction
 * stopped, no more writes taken and those taken settled, the log closed.
 * A clean close (`shutdown`, the database closing) first takes the
 * shutdown snapshot (`ShardSnapshots.shutdownSnapshot`), unless
 * `shutdown.refusal` says why not; losing the lead takes none (another
 * leader may be writing already). Resolves with what the shutdown
 * snapshot did, if one was considered.
 */
export async function closeLeaderRole(
  role: LeaderRole,
  shutdown?: { readonly refusal: string | undefined },
): Promise<ShutdownSnapshot | undefined> {
  stopShipping(role.crossTab);
  stopShipping(role.inTab);
  role.stopSnapshotting();
  await role.leader.close();
  let snapshot: ShutdownSnapshot | undefined;
  if (shutdown) {
    const refused = role.leader.storageRefusal;
    const refusal = shutdown.refusal ?? (refused === undefined ? undefined : `storage refused the last append: ${String(refused)}`);
    snapshot = await role.snapshots.shutdownSnapshot(refusal);
    if (snapshot.outcome === 'failed' || snapshot.outcome === 'timedOut') {
      // Nothing is lost: the next open replays the log after the older snapshot.
      console.warn(
        `tidal: shard ${role.wal.shard}'s shutdown snapshot ${snapshot.outcome === 'failed' ? 'failed' : 'timed out'}: ${snapshot.detail}`,
      );
    }
  } else {
    await role.snapshots.close();
  }
  await role.wal.close();
  return snapshot;
}

/** The newest snapshot of a leader's shard, as its shippers send it. */
function snapshotSource(snapshots: ShardSnapshots, store: SnapshotStore): SnapshotSource {
  return { newestLsn: () => snapshots.newest?.lsn ?? 0, read: () => store.readNewest() };
}
