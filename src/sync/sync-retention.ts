/**
 * The name under which device sync holds back a shard's WAL compaction
 * (`Wal.retain`): a module of its own, so that the shard worker retains
 * the log when it takes the lead, before it has loaded the sync code
 * (host-sync.ts), and the sync code moves the retention on as it uploads
 * (leader-sync-log.ts).
 */

/** The `Wal.retain` holder of device sync: the log it has not uploaded yet (the shard host releases it when sync stops). */
export const SYNC_RETENTION = 'device sync';
