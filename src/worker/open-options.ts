/**
 * `openTidal`'s options, checked once and resolved to the values used
 * (defaults filled in): a bad option is an `InvalidArgument` naming it,
 * before any worker or lock exists.
 */
import { TidalError } from '../common/errors.js';
import { booleanOption, functionOption, integerOption, oneOfOption } from '../common/options.js';
import type { ShardId } from '../shard/shard-id.js';
import type { SyncConfig } from '../sync/sync-options.js';
import type { OpenTidalOptions } from './api.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** `OpenTidalOptions` with every default filled in. */
export interface ResolvedOptions {
  readonly name: string;
  readonly shards: number;
  readonly storage: 'opfs' | 'memory';
  readonly durability: 'flush' | 'relaxed';
  readonly leaderTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly debug: boolean;
  readonly createWorker: ((shard: ShardId) => Worker) | undefined;
  /** Resolved by `openTidal` (the user key is derived asynchronously). */
  readonly sync: SyncConfig | undefined;
}

/** Checks `options` and fills in the defaults; `InvalidArgument` for anything out of range. */
export function resolveOptions(options: OpenTidalOptions): ResolvedOptions {
  if (typeof options?.name !== 'string' || !NAME.test(options.name)) {
    throw new TidalError('InvalidArgument', `name must be 1..64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(options?.name)}`);
  }
  const resolved: ResolvedOptions = {
    name: options.name,
    shards: integerOption('shards', options.shards, { min: 1, max: 64, default: 4 }),
    storage: oneOfOption('storage', options.storage, ['opfs', 'memory'], 'opfs'),
    durability: oneOfOption('durability', options.durability, ['flush', 'relaxed'], 'flush'),
    leaderTimeoutMs: integerOption('leaderTimeoutMs', options.leaderTimeoutMs, { min: 1, default: 3000 }),
    requestTimeoutMs: integerOption('requestTimeoutMs', options.requestTimeoutMs, { min: 1, default: 5000 }),
    debug: booleanOption('debug', options.debug, false),
    createWorker: functionOption('createWorker', options.createWorker),
    sync: undefined,
  };
  if (typeof navigator === 'undefined' || !navigator.locks) {
    throw new TidalError('InvalidArgument', 'openTidal runs in a browser page with Web Locks (navigator.locks)');
  }
  if (resolved.storage === 'opfs' && typeof navigator.storage?.getDirectory !== 'function') {
    console.warn('tidal: OPFS is not available here; using memory storage (nothing survives a reload)');
    return { ...resolved, storage: 'memory' };
  }
  return resolved;
}
