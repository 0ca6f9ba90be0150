/**
 * `LeaderSyncLog`: the `SyncLog` of a shard as its leader holds it: the
 * WAL for reading what this device wrote, the `ShardLeader` for merging
 * what other devices wrote (as import events, which carry the cursors, so
 * they survive restarts and reach every replica through replication). A
 * snapshot of another device is merged in one batch with the cursors it
 * advances: as its state's bytes (a state import) when this shard lacks
 * most of it, else as the operations that take this shard's state to the
 * merge (`operationsToMerge`). The WAL keeps what sync has not uploaded: its
 * retention `sync` (`Wal.retain`) follows the manifest.
 *
 *     const sync = new ShardSync({ ..., log: new LeaderSyncLog(wal, leader) });
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { CrdtSignalState } from '../crdt/signal-state.js';
import type { ShardLeader } from '../session/shard-leader.js';
import { asLogEvent, STATE_IMPORT } from '../session/write.js';
import type { Wal } from '../wal/wal.js';
import { Decoder } from '../common/bytes.js';
import { decodeField, skipValue } from '../common/value-skip.js';
import { TidalError } from '../common/errors.js';
import { decodeValue, MAX_PAYLOAD_DEPTH, PAYLOAD_VERSION } from '../wal/payload.js';
import type { SnapshotSource } from './format.js';
import { mergeOperationCount, operationsToMerge } from './state-merge.js';
import type { LocalEvent, SyncLog } from './sync-log.js';
import { SYNC_RETENTION } from './sync-retention.js';

/** A shard leader's log, for sync. */
export class LeaderSyncLog implements SyncLog {
  private readonly wal: Wal;
  private readonly leader: ShardLeader;

  constructor(wal: Wal, leader: ShardLeader) {
    this.wal = wal;
    this.leader = leader;
    // Until the first upload round reads the manifest, nothing the log holds may go.
    wal.retain(SYNC_RETENTION, Math.max(1, wal.firstLsn));
  }

  get firstLsn(): number {
    return this.wal.firstLsn;
  }

  retain(fromLsn: number): void {
    this.wal.retain(SYNC_RETENTION, Math.max(1, fromLsn));
  }

  snapshot(): SnapshotSource {
    const state = this.leader.state;
    return { lsn: state.appliedLsn, cursors: new Map(state.syncCursors), state: state.crdt };
  }

  /**
   * A state the local one lacks half or more of (a device joining, say) is
   * logged as a state import of the snapshot's own bytes (`ShardLeader.mergeState`:
   * no operation is encoded, ~45-110 ms for the sync bench's 10.6 MB state here);
   * a smaller difference as the import events of `operationsToMerge`, which
   * log only what is missing.
   */
  async mergeState(cursors: ReadonlyMap<string, number>, state: CrdtSignalState, stateBytes: Uint8Array, inPlace = false): Promise<void> {
    const advancing = [...cursors].filter(([device, upTo]) => upTo > this.cursor(device)).sort(([a], [b]) => (a < b ? -1 : 1));
    if (advancing.length === 0) return;
    const devices = advancing.map(([device, upTo]) => ({ device, upTo }));
    // An empty shard (a device joining) lacks all of it: no operation to compute (~6-11 ms for 10k entities in Node).
    const ops = this.leader.state.crdt.size === 0 && state.size > 0 ? undefined : operationsToMerge(this.leader.state.crdt, state);
    if (ops === undefined || (ops.length > 0 && 2 * ops.length >= mergeOperationCount(state)))
      await this.leader.mergeState(devices, state, stateBytes, inPlace);
    else await this.leader.mergeAll(devices.map((cursor, i) => ({ ...cursor, ops: i === 0 ? ops : [] })));
  }

  get lastLsn(): number {
    return this.wal.lastLsn;
  }

  get lastLocalLsn(): number {
    return this.leader.state.lastLocalLsn;
  }

  /**
   * The local events' bytes, cut out of the batches' payloads where they
   * lie (docs/FORMAT.md §5: a version byte, then the events back to back):
   * of each event only its kind (`t`) is decoded, the rest skipped to find
   * where it ends; its operations are neither decoded nor encoded again.
   */
  async *localEvents(from: number): AsyncIterable<LocalEvent> {
    if (from > this.wal.lastLsn) return;
    // Verified when it was read from storage (Wal.open) or written; the reader checks every event again.
    for await (const batch of this.wal.readBatches(from, { verify: false })) {
      const payload = batch.payload;
      if (payload[0] !== PAYLOAD_VERSION)
        throw new TidalError(
          'UnsupportedVersion',
          `a batch at LSN ${batch.firstLsn} has payload version ${payload[0]}; this build reads ${PAYLOAD_VERSION}`,
        );
      const decoder = new Decoder(payload);
      decoder.offset = 1;
      for (let i = 0; i < batch.header.eventCount; i++) {
        const start = decoder.offset;
        const lsn = batch.firstLsn + i;
        if (lsn < from) {
          skipValue(decoder, 0, MAX_PAYLOAD_DEPTH);
          continue;
        }
        const kind = decodeField(decoder, 't', MAX_PAYLOAD_DEPTH);
        // Imports are the other devices' to upload; anything but a write or an import is refused as reading it would be.
        if (kind === 'write') yield { lsn, bytes: payload.subarray(start, decoder.offset) };
        else if (kind !== 'import' && kind !== STATE_IMPORT)
          asLogEvent(decodeValue(new Decoder(payload.subarray(start, decoder.offset)), MAX_PAYLOAD_DEPTH));
      }
    }
  }

  cursor(device: string): number {
    return this.leader.state.syncCursors.get(device) ?? 0;
  }

  async merge(device: string, upTo: number, ops: readonly CrdtOperation[]): Promise<void> {
    await this.leader.merge(device, upTo, ops);
  }
}
