/**
 * Cumulative verification counters per shard. Each follower (known by its
 * id) counts from 0 in its worker; a follower replaced (worker restart,
 * change of leader) keeps what it counted here, so a shard's totals never
 * go down.
 */
import type { ShardId } from '../shard/shard-id.js';

export class VerificationTally {
  private readonly followers = new Map<string, { shard: ShardId; bytes: number; rejected: number }>();

  /** Records what follower `follower` (of shard `shard`) has counted so far. */
  observe(follower: string, shard: ShardId, bytes: number, rejected: number): void {
    this.followers.set(follower, { shard, bytes, rejected });
  }

  bytesVerified(shard: ShardId): number {
    let total = 0;
    for (const f of this.followers.values()) if (f.shard === shard) total += f.bytes;
    return total;
  }

  payloadsRejected(shard: ShardId): number {
    let total = 0;
    for (const f of this.followers.values()) if (f.shard === shard) total += f.rejected;
    return total;
  }
}
