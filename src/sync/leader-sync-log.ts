/**
 * `LeaderSyncLog`: the `SyncLog` of a shard as its leader holds it: the
 * WAL for reading what this device wrote, the `ShardLeader` for merging
 * what other devices wrote (as import events, which carry the cursors, so
 * they survive restarts and reach every replica through replication).
 *
 * While it syncs, the log after what was uploaded is held back from
 * compaction (`Wal.retain`, holder `SYNC_RETENTION`): until the first
 * upload round says where that is, from where the log starts; once this
 * device's writes are all uploaded, only what comes next.
 *
 *     const sync = new ShardSync({ ..., log: new LeaderSyncLog(wal, leader) });
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { ShardLeader } from '../session/shard-leader.js';
import { asLogEvent } from '../session/write.js';
import type { Wal } from '../wal/wal.js';
import type { ChunkEvent } from './format.js';
import type { SyncLog } from './sync-log.js';

/** The `Wal.retain` holder of device sync: the log it has not uploaded yet. */
export const SYNC_RETENTION = 'device sync';

/** A shard leader's log, for sync. */
export class LeaderSyncLog implements SyncLog {
  private readonly wal: Wal;
  private readonly leader: ShardLeader;

  constructor(wal: Wal, leader: ShardLeader) {
    this.wal = wal;
    this.leader = leader;
    wal.retain(SYNC_RETENTION, wal.firstLsn);
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

  uploaded(lsn: number): void {
    // Past this device's last write, the log holds only other devices' events (theirs to upload).
    const needs = lsn >= this.leader.state.lastLocalLsn ? this.wal.nextLsn : lsn + 1;
    this.wal.retain(SYNC_RETENTION, Math.max(1, needs));
  }

  cursor(device: string): number {
    return this.leader.state.syncCursors.get(device) ?? 0;
  }

  async merge(device: string, upTo: number, ops: readonly CrdtOperation[]): Promise<void> {
    await this.leader.merge(device, upTo, ops);
  }
}
