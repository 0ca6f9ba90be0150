/**
 * The browser cluster: `openTidal` on the main thread, one `ShardHost`
 * worker per shard, leadership across tabs with Web Locks.
 *
 * Module layout, one idea per file:
 * - main thread: `open-tidal.ts` (entry) → `open-options.ts` (checks options) → `database.ts`
 *   (the `TidalDb`), with `tick-batcher.ts` (a tick's writes in one message), `leader-lock.ts`
 *   (Web Locks and terms), `worker-supervisor.ts` (spawn, liveness, restart, `createWorker`),
 *   `shard-slot.ts` (one shard as the tab runs it), `verification-tally.ts`.
 * - worker: `shard-host.worker.ts` (comlink entry) → `shard-host.ts` (the front), with
 *   `leadership.ts` (the `ShardRole` union: starting | follower | leader, claims, announcements,
 *   log replay), `write-forwarding.ts`, `change-feed.ts`, `in-tab-follower.ts`, `host-status.ts`.
 * - both: `channels.ts` (every lock/channel name), `tab-rpc.ts` (messages between tabs), `protocol.ts`
 *   (the version they carry),
 *   `shard-host-config.ts`, `api.ts` (public types). Time comes from `common/clock.ts`.
 */
export { openTidal } from './open-tidal.js';
export { PROTOCOL_VERSION } from './protocol.js';
export type {
  Change,
  Entity,
  OpenTidalOptions,
  ReadOptions,
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
