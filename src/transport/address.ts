/**
 * Who a transport message is from and for. A shard's leader is reached by
 * its bare `ShardId`; any other replica of that shard (a follower in
 * another worker, a tab hosting a follower of shard 3) adds a `replica`
 * name. A bare `ShardId` is exactly `{ shard, replica: '' }`, so code that
 * only knows shard ids keeps working:
 *
 *     sendSegment(3, payload);                              // shard 3, replica ''
 *     sendSegment({ shard: 3, replica: 'tab-5f1c' }, payload); // a follower of shard 3
 *
 * Which replica is the leader is the replication layer's business (after a
 * failover the new leader may well carry a name); the transport only
 * matches addresses exactly.
 */
import { TidalError } from '../common/errors.js';
import { isShardId, type ShardId } from '../shard/shard-id.js';

/** Longest replica name, in UTF-16 code units (a UUID is 36). */
export const MAX_REPLICA_NAME_LENGTH = 64;

/** One replica of one shard. `replica: ''` is the shard's default replica (what a bare `ShardId` names). */
export interface PeerAddress {
  /** The shard (0..65535). */
  readonly shard: ShardId;
  /** The replica's name within the shard, at most 64 code units; `''` for the default replica. */
  readonly replica: string;
}

/** What `sendSegment` and `sendControl` accept as a destination: a bare shard id or a full address. */
export type TransportAddress = ShardId | PeerAddress;

/** True when `value` is a well-formed `PeerAddress` (u16 shard, replica name of at most 64 code units). */
export function isPeerAddress(value: unknown): value is PeerAddress {
  if (typeof value !== 'object' || value === null) return false;
  const { shard, replica } = value as { shard?: unknown; replica?: unknown };
  return isShardId(shard) && typeof replica === 'string' && replica.length <= MAX_REPLICA_NAME_LENGTH;
}

/** Normalizes a `TransportAddress` to a fresh, frozen `PeerAddress`; throws `InvalidArgument` naming `what` otherwise. */
export function toPeerAddress(value: unknown, what = 'address'): PeerAddress {
  if (isShardId(value)) return Object.freeze({ shard: value, replica: '' });
  if (isPeerAddress(value)) return Object.freeze({ shard: value.shard, replica: value.replica });
  throw new TidalError(
    'InvalidArgument',
    `${what} must be a shard id (0..65535) or { shard, replica } with a replica name of at most ${MAX_REPLICA_NAME_LENGTH} characters, got ${describe(value)}`,
  );
}

/** True when two addresses name the same replica. */
export function sameAddress(a: PeerAddress, b: PeerAddress): boolean {
  return a.shard === b.shard && a.replica === b.replica;
}

/** A string key for maps and messages: `3` for the default replica, `3/tab-5f1c` otherwise. */
export function formatAddress(address: PeerAddress): string {
  return address.replica === '' ? String(address.shard) : `${address.shard}/${address.replica}`;
}

function describe(value: unknown): string {
  try {
    return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
