/**
 * A shard's number: an integer 0..65535 (it is a u16 in every header).
 * Keys are placed on shards by `ShardRouter`; each shard lives in one worker.
 */
import { TidalError } from '../common/errors.js';

/** A shard number, 0..65535. */
export type ShardId = number;

/** Largest shard id (the field is a u16). */
export const MAX_SHARD_ID = 0xffff;

/** True when `value` is a valid `ShardId`. */
export function isShardId(value: unknown): value is ShardId {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_SHARD_ID;
}

/** Returns `value` as a `ShardId`, or throws `InvalidArgument` naming `what`. */
export function assertShardId(value: unknown, what = 'shard id'): ShardId {
  if (!isShardId(value)) {
    throw new TidalError('InvalidArgument', `${what} must be an integer in 0..65535, got ${String(value)}`);
  }
  return value;
}
