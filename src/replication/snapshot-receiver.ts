/**
 * `SnapshotReceiver`: a follower's side of snapshot shipping. It takes the
 * chunks of a leader's snapshot file as they arrive (each verified by its
 * own digest first, `decodeSnapshotChunk`), in order, and once the file is
 * whole verifies it as a snapshot file on disk is verified
 * (`decodeSnapshot`: magic, version, lengths, BLAKE3 of the whole), then
 * checks that it is the snapshot the chunks announced, of this shard and
 * database. Only then is it handed back to be installed; until then nothing
 * of it is.
 *
 *     const outcome = receiver.accept(payloadBytes); // throws a TidalError for a bad chunk
 *     if (outcome.kind === 'complete') install(outcome.snapshot);
 *
 * A chunk out of order (another snapshot, a gap) drops what was held, and
 * the follower asks again: chunks are re-sent from the start.
 */
import { DIGEST_BYTES, equalBytes, type Blake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { decodeSnapshot, type Snapshot } from '../wal/snapshot-file.js';
import { decodeSnapshotChunk, MAX_SNAPSHOT_FILE_BYTES, type SnapshotChunk } from './snapshot-chunks.js';

/** What accepting a chunk came to. */
export type SnapshotChunkOutcome =
  | { readonly kind: 'partial'; readonly received: number; readonly fileBytes: number }
  | {
      readonly kind: 'complete';
      /** The verified snapshot; its body is a view of `file`. */
      readonly snapshot: Snapshot;
      /** The whole snapshot file, as the leader stored it. */
      readonly file: Uint8Array;
    };

interface Assembly {
  readonly lsn: number;
  readonly fileBytes: number;
  readonly fileDigest: Uint8Array;
  readonly parts: Uint8Array[];
  received: number;
}

/** Assembles and verifies one shard's incoming snapshot. */
export class SnapshotReceiver {
  private readonly b3: Blake3;
  private readonly shard: ShardId;
  private readonly databaseId: Uint8Array | undefined;
  private readonly maxFileBytes: number;
  private assembly: Assembly | undefined;

  /**
   * `databaseId`: when given, a snapshot of another database is refused
   * (`HeaderMismatch`). `maxFileBytes`: the largest snapshot file accepted
   * (default the format's bound, 1 GiB and its overhead).
   */
  constructor(b3: Blake3, options: { shard: ShardId; databaseId?: Uint8Array; maxFileBytes?: number }) {
    this.b3 = b3;
    this.shard = options.shard;
    this.databaseId = options.databaseId;
    this.maxFileBytes = options.maxFileBytes ?? MAX_SNAPSHOT_FILE_BYTES;
  }

  /** Bytes of a snapshot held so far (0 when none is being received). */
  get heldBytes(): number {
    return this.assembly?.received ?? 0;
  }

  /** Drops a snapshot being received. */
  reset(): void {
    this.assembly = undefined;
  }

  /**
   * Takes one chunk. Throws a `TidalError` saying what is wrong with it (and
   * then holds nothing): the chunk's own checks, `LengthOutOfBounds` for a
   * file over the bound, `HeaderMismatch` for a chunk out of order or a
   * whole file that is not the snapshot announced, and the file's own
   * verification codes (`DigestMismatch`, `Truncated`...).
   */
  accept(bytes: Uint8Array): SnapshotChunkOutcome {
    try {
      return this.take(decodeSnapshotChunk(this.b3, bytes, this.shard));
    } catch (error) {
      this.assembly = undefined;
      throw error;
    }
  }

  private take(chunk: SnapshotChunk): SnapshotChunkOutcome {
    if (chunk.fileBytes > this.maxFileBytes) {
      throw new TidalError(
        'LengthOutOfBounds',
        `a snapshot of ${chunk.fileBytes} bytes is over this follower's bound of ${this.maxFileBytes}`,
      );
    }
    if (chunk.offset === 0) {
      this.assembly = { lsn: chunk.lsn, fileBytes: chunk.fileBytes, fileDigest: chunk.fileDigest.slice(), parts: [], received: 0 };
    }
    const assembly = this.assembly;
    if (
      !assembly ||
      assembly.lsn !== chunk.lsn ||
      assembly.fileBytes !== chunk.fileBytes ||
      assembly.received !== chunk.offset ||
      !equalBytes(assembly.fileDigest, chunk.fileDigest)
    ) {
      throw new TidalError(
        'HeaderMismatch',
        `snapshot chunk at offset ${chunk.offset} of the snapshot at LSN ${chunk.lsn} does not follow what was received (${assembly ? `${assembly.received} bytes of the snapshot at LSN ${assembly.lsn}` : 'nothing'})`,
      );
    }
    assembly.parts.push(chunk.bytes);
    assembly.received += chunk.bytes.length;
    if (assembly.received < assembly.fileBytes) return { kind: 'partial', received: assembly.received, fileBytes: assembly.fileBytes };
    this.assembly = undefined;
    return { kind: 'complete', ...this.verifyWhole(assembly) };
  }

  /** The file in one buffer (the one copy snapshot shipping makes), verified whole. */
  private verifyWhole(assembly: Assembly): { snapshot: Snapshot; file: Uint8Array } {
    const file = new Uint8Array(assembly.fileBytes);
    let at = 0;
    for (const part of assembly.parts) {
      file.set(part, at);
      at += part.length;
    }
    const snapshot = decodeSnapshot(this.b3, file);
    if (!equalBytes(file.subarray(file.length - DIGEST_BYTES), assembly.fileDigest)) {
      throw new TidalError('HeaderMismatch', 'the snapshot assembled is not the one its chunks announced (its digest differs)');
    }
    if (snapshot.shard !== this.shard)
      throw new TidalError('WrongShard', `the snapshot shipped is of shard ${snapshot.shard}, not ${this.shard}`);
    if (snapshot.lsn !== assembly.lsn) {
      throw new TidalError('HeaderMismatch', `the snapshot shipped is at LSN ${snapshot.lsn}, its chunks said ${assembly.lsn}`);
    }
    if (this.databaseId && !equalBytes(snapshot.databaseId, this.databaseId)) {
      throw new TidalError('HeaderMismatch', 'the snapshot shipped is of another database');
    }
    return { snapshot, file };
  }
}
