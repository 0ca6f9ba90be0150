/**
 * What the main thread tells a shard worker once, when it starts it
 * (`ShardHostConfig`), and what it asks of it later (`ShardHostStatus`).
 */
import type { ShardId } from '../shard/shard-id.js';
import type { SyncConfig } from '../sync/sync-options.js';
import type { ShardStats } from './api.js';

/** How a host is set up (sent once by the main thread). */
export interface ShardHostConfig {
  readonly db: string;
  readonly shard: ShardId;
  readonly shards: number;
  readonly tabId: string;
  readonly storage: 'opfs' | 'memory';
  readonly durability: 'flush' | 'relaxed';
  readonly requestTimeoutMs: number;
  /** Fault injection allowed (`openTidal({ debug: true })`): links that can corrupt, a worker that can hang. */
  readonly debug: boolean;
  /** Device sync through an S3 store, run by the worker while it leads the shard (docs/SYNC.md). */
  readonly sync: SyncConfig | undefined;
}

/** What the main thread learns from `status()`: a shard's `ShardStats` as this worker sees it, and more. */
export interface ShardHostStatus extends Omit<ShardStats, 'restarts' | 'messagesRefused'> {
  /** Messages this worker (`host`, one incarnation) refused on the shard's channels so far. */
  readonly refused: { readonly host: string; readonly count: number };
  /** Identifies the follower whose counters `bytesVerified` and `payloadsRejected` are (a new one starts from 0). */
  readonly followerId: string | undefined;
  /** The host answers reads: it leads the shard, or follows its leader. */
  readonly ready: boolean;
  /** Milliseconds since the leader tab was last heard (0 when this tab leads). */
  readonly leaderSilentMs: number;
  /**
   * Set once the worker met a newer protocol or format than it speaks and stepped aside for good: the
   * message and details of its `VersionSkew` error (the main thread then lets go of the shard's lock).
   */
  readonly superseded: { readonly message: string; readonly details: Readonly<Record<string, unknown>> } | undefined;
  /** The in-tab follower this worker hosts for another shard led in this tab, if any. */
  readonly inTabFollower:
    { readonly id: string; readonly shard: ShardId; readonly bytesVerified: number; readonly payloadsRejected: number } | undefined;
}
