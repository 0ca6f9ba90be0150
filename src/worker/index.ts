/**
 * The browser cluster: `openTidal` on the main thread, one `ShardHost`
 * worker per shard, leadership across tabs with Web Locks.
 */
export { openTidal } from './open-tidal.js';
export type { Change, Entity, OpenTidalOptions, ReadOptions, ShardStats, TidalDb, TidalStats, WriteOptions } from './api.js';
export { installTidalErrorHandler } from './comlink-errors.js';
