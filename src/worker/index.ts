/**
 * The browser cluster: `openTidal` on the main thread, one `ShardHost`
 * worker per shard, leadership across tabs with Web Locks.
 *
 * Module layout, one idea per file:
 * - main thread: `open-tidal.ts` (entry) → `open-options.ts` (checks options) → `database.ts`
 *   (the `TidalDb`: its API and lifecycle), with `write-submission.ts` (writes checked, routed,
 *   handed to the session writers), `read-routing.ts` (reads after the session's LSN),
 *   `subscriptions.ts`, `database-stats.ts`, `database-sync.ts` (`db.sync`), `database-debug.ts`
 *   (`db.debug`), `tick-batcher.ts` (a tick's writes in one message), `leader-lock.ts` (Web Locks
 *   and terms), `worker-supervisor.ts` (spawn, liveness, restart, `createWorker`), `shard-slot.ts`
 *   (one shard as the tab runs it), `verification-tally.ts`.
 * - worker: `shard-host.worker.ts` (comlink entry) → `shard-host.ts` (the front, the tab RPC
 *   channel, stepping aside), with `leadership.ts` (the `ShardRole` union: starting | follower |
 *   leader, claims, announcements), `leader-role.ts` (what a leader owns: set up over the open log,
 *   torn down), `write-admission.ts`, `write-forwarding.ts`,
 *   `host-reads.ts` (with `replica-read.ts`), `change-feed.ts`, `in-tab-follower.ts`, `host-sync.ts` (device sync while
 *   leading), `host-status.ts`, `host-faults.ts` (debug hooks).
 * - both: `channels.ts` (every lock/channel name), `tab-rpc.ts` (messages between tabs), `protocol.ts`
 *   (the version they carry, `VersionSkew`), `write-frame.ts` (a tick's writes as bytes),
 *   `shard-host-config.ts`, `api.ts` (public types). Time comes from `common/clock.ts`.
 */
export { openTidal } from './open-tidal.js';
export { PROTOCOL_VERSION } from './protocol.js';
export type {
  Change,
  Entity,
  OpenTidalOptions,
  ReadOptions,
  ShardOpenTimes,
  ShardStats,
  ShardSyncStats,
  SnapshotTaken,
  TidalDb,
  TidalDebug,
  TidalStats,
  TidalSync,
  TidalSyncStats,
  TidalTransaction,
  TransactResult,
  WriteOptions,
} from './api.js';
export { installTidalErrorHandler } from './comlink-errors.js';
