/**
 * The names a database uses across the origin, built in one place: the
 * shard's Web Lock (and the localStorage key of its lock terms), its two
 * `BroadcastChannel`s (the log, the tab RPC) and its worker's name. Every
 * tab of a database must build the same names: FORMAT.md §8 lists them.
 *
 *     new BroadcastChannel(shardChannels('forage', 3).log); // 'tidal:forage:shard:3:log'
 */
import type { ShardId } from '../shard/shard-id.js';

/** The names of one shard of database `db`. */
export interface ShardChannels {
  /** The Web Lock whose holder leads the shard; also the shard worker's name. */
  readonly lock: string;
  /** localStorage key of the lock's last granted term. */
  readonly term: string;
  /** The `BroadcastChannel` the leader tab ships the shard's log on. */
  readonly log: string;
  /** The `BroadcastChannel` of leader announcements and forwarded writes (`tab-rpc.ts`). */
  readonly rpc: string;
}

/** The names of shard `shard` of database `db`. */
export function shardChannels(db: string, shard: ShardId): ShardChannels {
  const base = `tidal:${db}:shard:${shard}`;
  return { lock: base, term: `${base}:term`, log: `${base}:log`, rpc: `${base}:rpc` };
}
