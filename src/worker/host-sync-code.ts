/**
 * What `HostSync` (host-sync.ts) imports when a database that syncs takes a shard's lead: one
 * module, so that bundlers make the sync code one chunk the worker loads on first use.
 */
export { startShardSync } from '../sync/device-sync.js';
