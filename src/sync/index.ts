/**
 * Sync across a user's devices through an S3-compatible object store,
 * end-to-end encrypted (docs/SYNC.md): the `Remote` interface with its
 * memory and S3 implementations, the user key, and the per-shard protocol
 * (`ShardSync`) with its background runner. Applications use it through
 * `openTidal({ sync })` and `db.sync`.
 */
export type { ByteRange, GetOptions, ListOptions, PutOutcome, Remote, RemoteEntry, RemoteListing, RemoteObject } from './remote.js';
export { listAll } from './remote.js';
export { MemoryRemote } from './memory-remote.js';
export type { MemoryRemoteCounters, MemoryRemoteOptions } from './memory-remote.js';
export { S3Remote } from './s3-remote.js';
export type { S3RemoteCounters, S3RemoteOptions } from './s3-remote.js';
export { ARGON2ID_PARAMETERS, SyncKeys, deriveUserKey, generateUserKey, parseUserKey } from './sync-key.js';
export type { ObjectNameStream } from './sync-key.js';
export { ShardSync } from './shard-sync.js';
export type { ShardSyncOptions } from './shard-sync.js';
export type { LocalEvent, SyncLog } from './sync-log.js';
export type { ShardSyncStats, SyncRoundReport } from './sync-stats.js';
export { SyncRunner } from './sync-runner.js';
export type { SyncRunnerOptions, SyncRunnerStats } from './sync-runner.js';
export { LeaderSyncLog } from './leader-sync-log.js';
export type { SyncConfig, SyncOptions } from './sync-options.js';
