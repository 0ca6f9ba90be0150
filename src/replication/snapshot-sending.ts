/**
 * `SnapshotChunksCache`: the newest snapshot of a shipper's source, read
 * and cut into chunks within `maxPayloadBytes` (docs/FORMAT.md §7.3) once
 * per snapshot and kept while it stays the newest, so that every follower
 * sent it shares the same chunks (each send hands over a copy).
 *
 *     const snapshot = await chunks.newest(); // undefined when there is none
 *     for (const chunk of snapshot.chunks) send(chunk.slice().buffer);
 */
import { loadBlake3 } from '../common/blake3.js';
import type { ShardId } from '../shard/shard-id.js';
import { encodeSnapshotChunks } from './snapshot-chunks.js';
import type { SnapshotSource } from './wal-shipper-options.js';

/** A snapshot file in chunks. */
export interface SnapshotInChunks {
  readonly lsn: number;
  readonly fileBytes: number;
  readonly chunks: readonly Uint8Array[];
}

/** The newest snapshot of `source`, in chunks, cut once. */
export class SnapshotChunksCache {
  private readonly source: SnapshotSource;
  private readonly shard: ShardId;
  private readonly maxPayloadBytes: number;
  private cut: SnapshotInChunks | undefined;

  constructor(source: SnapshotSource, shard: ShardId, maxPayloadBytes: number) {
    this.source = source;
    this.shard = shard;
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /** The newest snapshot's LSN, 0 when there is none. */
  newestLsn(): number {
    return this.source.newestLsn();
  }

  /** The newest snapshot in chunks; `undefined` when there is none. Throws when the store fails. */
  async newest(): Promise<SnapshotInChunks | undefined> {
    const newest = this.source.newestLsn();
    if (newest === 0) return undefined;
    if (this.cut?.lsn === newest) return this.cut;
    const [b3, read] = await Promise.all([loadBlake3(), this.source.read()]);
    if (!read) return undefined;
    const chunks = encodeSnapshotChunks(b3, { shard: this.shard, lsn: read.lsn, file: read.file }, this.maxPayloadBytes);
    this.cut = { lsn: read.lsn, fileBytes: read.file.length, chunks };
    return this.cut;
  }
}
