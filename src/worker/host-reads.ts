/**
 * Reads in a shard's worker: answered from the replica this worker holds
 * (the leader's state, or the follower of another tab's leader), once it
 * has caught up with what its leader had when first heard and applied the
 * token the reader waits for (read-your-writes); a read whose replica is
 * replaced meanwhile moves to the next one (replica-read.ts). Each answer
 * carries the LSN the replica had applied, which the reader's session
 * remembers so that its later reads never go back in time.
 */
import type { Clock } from '../common/clock.js';
import type { TidalError } from '../common/errors.js';
import type { FollowerDb } from '../replication/follower-db.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardLeader } from '../session/shard-leader.js';
import type { WriteToken } from '../session/write.js';
import type { Entity } from './api.js';
import { entityAt, entityColumns, type EntityColumns } from './entity.js';
import type { Leadership, ShardRole } from './leadership.js';
import { whenReadable } from './replica-read.js';

/** How often a read waiting for a replica looks again. */
const READ_POLL_MS = 10;

/** The replica reads are answered from in `role`: the leader, or the follower of another tab's leader. */
export function currentReplica(role: ShardRole): ShardLeader | FollowerDb | undefined {
  if (role.kind === 'leader') return role.leader;
  if (role.kind === 'follower') return role.replica;
  return undefined;
}

/** Answers reads of one worker's shard from its replica. */
export class HostReads {
  private readonly shard: ShardId;
  private readonly leadership: Leadership;
  private readonly clock: Clock;
  /** Why the worker answers no reads at all any more (closed, stepped aside), if it does not. */
  private readonly refusal: () => TidalError | undefined;

  constructor(options: { shard: ShardId; leadership: Leadership; clock: Clock; refusal: () => TidalError | undefined }) {
    this.shard = options.shard;
    this.leadership = options.leadership;
    this.clock = options.clock;
    this.refusal = options.refusal;
  }

  /** The entity at `key`, once the replica has applied `after`; with the LSN it had applied. */
  async get(key: string, after: WriteToken | undefined, timeoutMs: number): Promise<{ entity: Entity | undefined; lsn: number }> {
    const replica = await this.readableReplica(after, timeoutMs);
    return { entity: entityAt(this.leadership.role.state.crdt, key), lsn: replica.appliedLsn };
  }

  /** Entities under `prefix` (at most `limit`, in key order), as columns (`entitiesFromColumns` makes them entities), like `get`. */
  async scan(
    prefix: string,
    limit: number,
    after: WriteToken | undefined,
    timeoutMs: number,
  ): Promise<{ columns: EntityColumns; lsn: number }> {
    const replica = await this.readableReplica(after, timeoutMs);
    const crdt = this.leadership.role.state.crdt;
    const keys = crdt.keysWithPrefix(prefix);
    if (keys.length > limit) keys.length = limit;
    return { columns: entityColumns(crdt, keys), lsn: replica.appliedLsn };
  }

  /**
   * The replica to read from, once it has caught up with its leader (a fresh
   * follower) and applied `after`: a read waiting on a replica that is
   * replaced meanwhile (the role changed) moves to the next one
   * (replica-read.ts); `Timeout` past `timeoutMs`.
   */
  private readableReplica(after: WriteToken | undefined, timeoutMs: number): Promise<ShardLeader | FollowerDb> {
    return whenReadable({
      current: () => currentReplica(this.leadership.role),
      refusal: this.refusal,
      clock: this.clock,
      after,
      timeoutMs,
      describe: `shard ${this.shard}`,
      pollMs: READ_POLL_MS,
    });
  }
}
