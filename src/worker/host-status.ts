/**
 * A shard worker's `status()`: its role and the leader it knows, how far
 * its replica got, and the verification counters of the replicas it hosts
 * (the main thread keeps them cumulative across restarts, by id).
 */
import type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';
import type { InTabFollower } from './in-tab-follower.js';
import type { Leadership } from './leadership.js';

/** The status of the worker whose leadership is `leadership`, hosting `inTabFollower`. */
export function hostStatus(
  config: ShardHostConfig,
  leadership: Leadership,
  inTabFollower: InTabFollower | undefined,
  ready: boolean,
  refused: ShardHostStatus['refused'],
): Omit<ShardHostStatus, 'superseded'> {
  const role = leadership.role;
  const follower = role.kind === 'follower' ? role : undefined;
  const replica = follower?.replica;
  const common = {
    shard: config.shard,
    appliedLsn: role.state.appliedLsn,
    bytesVerified: replica?.counters.bytesVerified ?? 0,
    payloadsRejected: replica?.counters.payloadsRejected ?? 0,
    followerId: replica ? follower.replicaId : undefined,
    ready,
    refused,
    inTabFollower: inTabFollower && {
      id: inTabFollower.id,
      shard: inTabFollower.shard,
      bytesVerified: inTabFollower.counters.bytesVerified,
      payloadsRejected: inTabFollower.counters.payloadsRejected,
    },
  };
  if (role.kind === 'leader') {
    return {
      ...common,
      role: 'leader',
      leaderTab: config.tabId,
      lsn: role.wal.lastLsn,
      lag: { lsns: 0, ms: 0 },
      segments: role.wal.segments().length,
      logBytes: role.wal.logBytes(),
      snapshotLsn: role.snapshots.newest?.lsn ?? 0,
      snapshotBytes: role.snapshots.newest?.bytes ?? 0,
      opened: role.opened,
      leaderSilentMs: 0,
    };
  }
  return {
    ...common,
    role: role.kind,
    leaderTab: leadership.leaderTab,
    lsn: replica ? replica.appliedLsn + replica.lag.lsns : 0,
    lag: replica?.lag ?? { lsns: 0, ms: 0 },
    segments: 0,
    logBytes: 0,
    snapshotLsn: 0,
    snapshotBytes: 0,
    opened: undefined,
    leaderSilentMs: leadership.leaderSilentMs,
  };
}
