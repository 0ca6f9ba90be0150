/**
 * What a shard's sync reports (`ShardSyncStats`, cumulative, and one
 * round's `SyncRoundReport`), and `CountingRemote`, the `Remote` wrapper
 * through which every request of a shard's sync goes, so that requests,
 * objects and bytes are counted in one place.
 */
import type { TidalErrorCode } from '../common/errors.js';
import { listAll, type ByteRange, type Remote } from './remote.js';

/** What a shard's sync has done, cumulatively. */
export interface ShardSyncStats {
  /** The shard this sync runs for. */
  readonly shard: number;
  /** When the last round completed (ms), or `undefined`. */
  lastSyncAt: number | undefined;
  /** Why the last round failed, if it did. */
  lastError:
    | {
        /** The failure's `TidalError` code (`Unreachable`, `Corrupt`, ...). */
        readonly code: string;
        /** What was wrong. */
        readonly message: string;
      }
    | undefined;
  /** Objects uploaded to the bucket. */
  objectsUp: number;
  /** Bytes uploaded. */
  bytesUp: number;
  /** Objects downloaded (other devices' logs and manifests). */
  objectsDown: number;
  /** Bytes downloaded. */
  bytesDown: number;
  /** Remote operations issued. */
  requests: number;
  /** Events merged from other devices. */
  eventsMerged: number;
  /** Snapshots of this shard's state this device uploaded. */
  snapshotsUp: number;
  /** Other devices' snapshots merged (joining late, or after a long absence). */
  snapshotsMerged: number;
  /** LSNs of the local log up to its last local write that no upload covers yet. */
  pendingLsns: number;
  /** Objects refused, by code. */
  refused: Record<string, number>;
  /** Unreferenced objects the garbage collector deleted (docs/SYNC.md §10; the shard-0 sync of each device collects). */
  objectsDeleted: number;
  /** Other devices seen for this shard. */
  devices: number;
  /** Set once a newer uploader took over this device's manifest: this one no longer uploads. */
  fenced: boolean;
}

/** What one round did. */
export interface SyncRoundReport {
  readonly uploaded: number;
  readonly merged: number;
  readonly refused: readonly { readonly code: string; readonly message: string }[];
}

/** Stats of a shard's sync before its first round. */
export function initialStats(shard: number, pendingLsns: number): ShardSyncStats {
  return {
    shard,
    lastSyncAt: undefined,
    lastError: undefined,
    objectsUp: 0,
    bytesUp: 0,
    objectsDown: 0,
    bytesDown: 0,
    requests: 0,
    eventsMerged: 0,
    snapshotsUp: 0,
    snapshotsMerged: 0,
    pendingLsns,
    refused: {},
    objectsDeleted: 0,
    devices: 0,
    fenced: false,
  };
}

/** Codes that mean "this object is bad", as opposed to "the store is unreachable". */
export const REFUSALS: ReadonlySet<TidalErrorCode> = new Set<TidalErrorCode>([
  'DecryptionFailed',
  'ObjectMismatch',
  'RolledBack',
  'MalformedMessage',
  'HeaderMismatch',
  'BadMagic',
  'UnsupportedVersion',
  'ReservedNotZero',
  'Truncated',
  'PayloadTooLarge',
  'LengthOutOfBounds',
]);

/** A remote that counts requests and bytes into the stats. */
export class CountingRemote {
  private readonly remote: Remote;
  private readonly stats: ShardSyncStats;

  constructor(remote: Remote, stats: ShardSyncStats) {
    this.remote = remote;
    this.stats = stats;
  }

  async putIfAbsent(key: string, bytes: Uint8Array, body?: Blob) {
    this.stats.requests++;
    const outcome = await this.remote.putIfAbsent(key, bytes, body);
    if (outcome.ok) {
      this.stats.objectsUp++;
      this.stats.bytesUp += bytes.byteLength;
    }
    return outcome;
  }

  async putIfMatch(key: string, bytes: Uint8Array, etag: string) {
    this.stats.requests++;
    const outcome = await this.remote.putIfMatch(key, bytes, etag);
    if (outcome.ok) {
      this.stats.objectsUp++;
      this.stats.bytesUp += bytes.byteLength;
    }
    return outcome;
  }

  /** `key`, whole or (`range`) in part; an object read in ranges counts once, with its range at offset 0. */
  async get(key: string, maxBytes: number, range?: ByteRange) {
    this.stats.requests++;
    const found = await this.remote.get(key, range ? { maxBytes, range } : { maxBytes });
    if (found) {
      if (!range || range.offset === 0) this.stats.objectsDown++;
      this.stats.bytesDown += found.bytes.byteLength;
    }
    return found;
  }

  async delete(key: string) {
    this.stats.requests++;
    await this.remote.delete(key);
    this.stats.objectsDeleted++;
  }

  async list(prefix: string) {
    this.stats.requests++;
    return listAll(this.remote, prefix, 10_000);
  }
}
