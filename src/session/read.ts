/**
 * Read-your-writes and monotonic reads: before a replica answers a read
 * that carries a token (the token of the reader's own last write, or the
 * highest LSN its session has seen), it waits until it has applied that
 * LSN, or fails with `Timeout` after a bound. LSNs continue across leader
 * changes, so a session's reads never go back in time.
 */
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { WriteToken } from './write.js';

/** A replica that can be read after a given LSN: a `FollowerDb` or a `ShardLeader`. */
export interface ReadableReplica {
  /** The shard the replica holds. */
  readonly shard: ShardId;
  /** The last LSN applied to the replica's state. */
  readonly appliedLsn: number;
  /** Resolves once `lsn` is applied here; rejects with `Timeout` after `timeoutMs`. */
  whenApplied(lsn: number, timeoutMs: number): Promise<void>;
}

/** Default bound on waiting for a replica to catch up to a read's token. */
export const DEFAULT_READ_TIMEOUT_MS = 5000;

/**
 * Waits until `replica` has applied `after` (a token of this shard);
 * `WrongShard` for another shard's token, `Timeout` past `timeoutMs`.
 */
export async function waitForToken(
  replica: ReadableReplica,
  after: WriteToken | undefined,
  timeoutMs = DEFAULT_READ_TIMEOUT_MS,
): Promise<void> {
  if (!after) return;
  if (after.shard !== replica.shard) {
    throw new TidalError('WrongShard', `a token of shard ${after.shard} cannot order a read on shard ${replica.shard}`);
  }
  if (!Number.isSafeInteger(after.lsn) || after.lsn < 0)
    throw new TidalError('InvalidArgument', `token LSN must be a non-negative integer, got ${after.lsn}`);
  await replica.whenApplied(after.lsn, timeoutMs);
}
