/** Which shard owns a key: `ShardId` and the jump-consistent-hash `ShardRouter`. */
export { MAX_SHARD_ID, assertShardId, isShardId } from './shard-id.js';
export type { ShardId } from './shard-id.js';
export { MAX_SHARDS, ShardRouter, hashKey } from './router.js';
export type { ShardRouterOptions } from './router.js';
