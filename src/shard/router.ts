/**
 * `ShardRouter` says which shard owns a key. The key's UTF-8 bytes are
 * hashed with xxHash64 (seed 0, the reference algorithm, so any
 * implementation, any engine, any run gives the same 64 bits), and the hash
 * is placed on a shard with jump consistent hash (Lamping & Veach, "A Fast,
 * Minimal Memory, Consistent Hash Algorithm", 2014): shards are balanced,
 * and growing from n to n+1 shards moves only about 1/(n+1) of the keys,
 * all of them to the new shard.
 *
 *     const router = new ShardRouter({ shards: 16 });
 *     router.route('user:42'); // a ShardId in 0..15, the same everywhere
 *
 * `route` runs on every write, on the main thread: it writes the key's
 * UTF-8 into the memory of a small WebAssembly module
 * (`hash-wasm-module.ts`), which hashes and places it in one call. A
 * string holding a lone surrogate is hashed as `TextEncoder` encodes it
 * (the surrogate becomes U+FFFD), so such a key shares a shard with its
 * well-formed twin.
 */
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import { keyHasher } from './hash-wasm-module.js';
import type { ShardId } from './shard-id.js';

/** Most shards a router spreads keys over (shard ids are u16). */
export const MAX_SHARDS = 65536;

/** Options of a `ShardRouter`. */
export interface ShardRouterOptions {
  /** How many shards keys are spread over: an integer 1..65536 (no default). */
  readonly shards: number;
}

/** Places keys on shards: xxHash64 of the key's UTF-8, then jump consistent hash. */
export class ShardRouter {
  /** How many shards keys are spread over. */
  readonly shards: number;

  /** A router over `options.shards` shards; `InvalidArgument` outside 1..65536. */
  constructor(options: ShardRouterOptions) {
    this.shards = integerOption('shards', options?.shards, { min: 1, max: MAX_SHARDS });
  }

  /** The shard that owns `key`: the same for the same key and shard count, in every run and engine. */
  route(key: string): ShardId {
    return keyHasher().route(utf8Into(key), this.shards);
  }
}

/** xxHash64 (seed 0) of `key`'s UTF-8 bytes, the hash `ShardRouter` places keys by. */
export function hashKey(key: string): bigint {
  return keyHasher().hash(utf8Into(key));
}

/** xxHash64 of `bytes` with seed 0, as an unsigned 64-bit bigint. */
export function xxHash64(bytes: Uint8Array): bigint {
  const hasher = keyHasher();
  hasher.reserve(bytes.length);
  hasher.bytes.set(bytes, 0);
  return hasher.hash(bytes.length);
}

/** Jump consistent hash: the bucket in 0..buckets-1 of a 64-bit `hash`, for 1..2^31-1 buckets. */
export function jumpConsistentHash(hash: bigint, buckets: number): number {
  if (typeof hash !== 'bigint' || hash < 0n || hash >= 1n << 64n) {
    throw new TidalError('InvalidArgument', `hash must be a u64 bigint, got ${String(hash)}`);
  }
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 0x7fffffff) {
    throw new TidalError('InvalidArgument', `buckets must be an integer in 1..2^31-1, got ${String(buckets)}`);
  }
  return keyHasher().jump(hash, buckets);
}

const textEncoder = new TextEncoder();

/** Writes `key`'s UTF-8 at the start of the hasher's memory and returns its length. */
function utf8Into(key: string): number {
  if (typeof key !== 'string') {
    throw new TidalError('InvalidArgument', `a shard key must be a string, got ${key === null ? 'null' : typeof key}`);
  }
  const hasher = keyHasher();
  const length = key.length;
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  hasher.reserve(length * 3);
  const bytes = hasher.bytes;
  for (let index = 0; index < length; index++) {
    const code = key.charCodeAt(index);
    if (code >= 0x80) return textEncoder.encodeInto(key, bytes).written;
    bytes[index] = code;
  }
  return length;
}
