/**
 * Sync as the shard worker runs it: when a worker takes the lead of its
 * shard, `startShardSync` puts together the store (`S3Remote`), the keys,
 * the shard's log (`LeaderSyncLog`) and a `SyncRunner`, with the lead's
 * term as the writer epoch; the worker stops it when it steps down.
 */
import type { Clock } from '../common/clock.js';
import type { ShardLeader } from '../session/shard-leader.js';
import type { Wal } from '../wal/wal.js';
import { LeaderSyncLog } from './leader-sync-log.js';
import { S3Remote } from './s3-remote.js';
import { ShardSync } from './shard-sync.js';
import { SyncKeys } from './sync-key.js';
import type { SyncConfig } from './sync-options.js';
import { SyncRunner } from './sync-runner.js';

/** What a shard leader hands to sync. */
export interface ShardSyncTarget {
  readonly database: string;
  readonly wal: Wal;
  readonly leader: ShardLeader;
  readonly shard: number;
  readonly shards: number;
  /** The lead's term: the writer epoch of this device's manifests of the shard. */
  readonly term: number;
  readonly clock: Clock;
}

let keys: { userKey: Uint8Array; keys: Promise<SyncKeys> } | undefined;

/** Starts the background sync of a shard this worker now leads. */
export async function startShardSync(config: SyncConfig, target: ShardSyncTarget): Promise<SyncRunner> {
  if (keys?.userKey !== config.userKey) keys = { userKey: config.userKey, keys: SyncKeys.from(config.userKey) };
  const remote = new S3Remote({
    endpoints: config.endpoints,
    bucket: config.bucket,
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
    region: config.region,
    timeoutMs: config.timeoutMs,
  });
  const sync = new ShardSync({
    remote,
    keys: await keys.keys,
    database: target.database,
    device: config.device,
    shard: target.shard,
    shards: target.shards,
    epoch: target.term,
    log: new LeaderSyncLog(target.wal, target.leader),
    clock: target.clock,
    snapshotMinBytes: config.snapshotMinBytes,
  });
  const runner = new SyncRunner({ sync, clock: target.clock, intervalMs: config.intervalMs });
  if (config.auto) runner.start();
  return runner;
}
