/**
 * `LeaderSyncLog`: the `SyncLog` of a shard as its leader holds it: the
 * WAL for reading what this device wrote, the `ShardLeader` for merging
 * what other devices wrote (as import events, which carry the cursors, so
 * they survive restarts and reach every replica through replication).
 *
 *     const sync = new ShardSync({ ..., log: new LeaderSyncLog(wal, leader) });
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { ShardLeader } from '../session/shard-leader.js';
import { asLogEvent } from '../session/write.js';
import type { Wal } from '../wal/wal.js';
import type { ChunkEvent } from './format.js';
import type { SyncLog } from './sync-log.js';

/** A shard leader's log, for sync. */
export class LeaderSyncLog implements SyncLog {
  private readonly wal: Wal;
  private readonly leader: ShardLeader;

  constructor(wal: Wal, leader: ShardLeader) {
    this.wal = wal;
    this.leader = leader;
  }

  get lastLsn(): number {
    return this.wal.lastLsn;
  }

  get lastLocalLsn(): number {
    return this.leader.state.lastLocalLsn;
  }

  async *localEvents(from: number): AsyncIterable<ChunkEvent> {
    if (from > this.wal.lastLsn) return;
    for await (const { lsn, event } of this.wal.read(from, { verify: false })) {
      // Verified when it was read from storage (Wal.open) or written; imports are the other devices' to upload.
      const logged = asLogEvent(event);
      if (logged.t === 'write') yield { lsn, ops: logged.ops };
    }
  }

  cursor(device: string): number {
    return this.leader.state.syncCursors.get(device) ?? 0;
  }

  async merge(device: string, upTo: number, ops: readonly CrdtOperation[]): Promise<void> {
    await this.leader.merge(device, upTo, ops);
  }
}
