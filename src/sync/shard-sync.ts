/**
 * `ShardSync`: one shard of one device, synced through a `Remote`
 * (docs/SYNC.md). A round uploads the events this device wrote since its
 * manifest's LSN (`ShardUploader`), then merges the other devices' new
 * chunks of the shard into the local log, once (`ShardPuller`). Where the
 * shard lives in the bucket and how its objects are checked is its
 * `SyncSpace`; what it needs of the local log, its `SyncLog`. Shard 0's
 * sync also collects the database's unreferenced objects now and then
 * (`GarbageCollector`).
 *
 *     const sync = new ShardSync({ remote, keys, database, device, shard: 0, shards: 4, epoch: term, log, clock });
 *     const report = await sync.sync(); // upload, then pull
 *
 * Everything read is untrusted: a manifest or chunk that fails a check is
 * refused with a `TidalError` code (counted in `stats.refused`), nothing of
 * it is merged, and the other devices' streams go on. A network failure
 * (`Unreachable`) ends the round; the scheduler retries with backoff.
 */
import { systemClock, type Clock } from '../common/clock.js';
import { isTidalError } from '../common/errors.js';
import { MAX_CHUNK_BYTES, SNAPSHOT_PART_BYTES } from './format.js';
import { GarbageCollector, MAX_READ_MS } from './garbage-collector.js';
import type { Remote } from './remote.js';
import { ShardPuller } from './shard-puller.js';
import { ShardUploader } from './shard-uploader.js';
import type { SyncKeys } from './sync-key.js';
import type { SyncLog } from './sync-log.js';
import { SyncSpace } from './sync-space.js';
import { CountingRemote, initialStats, type ShardSyncStats, type SyncRoundReport } from './sync-stats.js';

export type { LocalEvent, SyncLog } from './sync-log.js';
export type { ShardSyncStats, SyncRoundReport } from './sync-stats.js';

/** Options of `ShardSync`. */
export interface ShardSyncOptions {
  readonly remote: Remote;
  readonly keys: SyncKeys;
  /** The database's name: databases of one user sync apart (each its own folder). */
  readonly database: string;
  /** This device's id: 32 hex digits, stable across reloads. */
  readonly device: string;
  readonly shard: number;
  readonly shards: number;
  /** The writer epoch: the shard's lock term in this device (grows with every new leader). */
  readonly epoch: number;
  readonly log: SyncLog;
  /** Largest chunk object, sealed (a chunk ends before the event that would take it past this; an event larger on its own has a chunk of its own). Default 4 MiB: one GET. */
  readonly maxChunkBytes?: number;
  /** Most chunks uploaded per round (bounds what one round holds in memory). Default 16. */
  readonly maxChunksPerRound?: number;
  /** A snapshot is uploaded once the chunks since the last one weigh this much and more than it. Default 4 MiB. */
  readonly snapshotMinBytes?: number;
  /** A snapshot is sealed and stored as parts of at most this many bytes of plaintext (docs/SYNC.md §9). Default 4 MiB (one GET). */
  readonly snapshotPartBytes?: number;
  /** The wall clock (`stats.lastSyncAt`, the upload and read bounds, garbage collection). Default `systemClock`. */
  readonly clock?: Clock;
  /** Shard 0's sync sweeps the database's unreferenced objects at most this often (docs/SYNC.md §10); 0: never. Default 10 minutes. */
  readonly collectEveryMs?: number;
}

/** One shard of one device, synced through a store. */
export class ShardSync {
  private readonly counters: ShardSyncStats;
  private readonly at: SyncSpace;
  private readonly log: SyncLog;
  private readonly clock: Clock;
  private readonly uploader: ShardUploader;
  private readonly puller: ShardPuller;
  private readonly collector: GarbageCollector | undefined;
  private readonly collectEveryMs: number;
  private nextSweepAt: number;
  private running: Promise<SyncRoundReport> | undefined;

  constructor(options: ShardSyncOptions) {
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.counters = initialStats(options.shard, options.log.lastLocalLsn);
    this.at = new SyncSpace(options.keys, options.database, options.device, options.shard, options.shards);
    const remote = new CountingRemote(options.remote, this.counters);
    this.uploader = new ShardUploader({
      at: this.at,
      remote,
      log: options.log,
      epoch: options.epoch,
      maxChunkBytes: options.maxChunkBytes ?? MAX_CHUNK_BYTES,
      maxChunksPerRound: options.maxChunksPerRound ?? 16,
      snapshotMinBytes: options.snapshotMinBytes ?? MAX_CHUNK_BYTES,
      snapshotPartBytes: options.snapshotPartBytes ?? SNAPSHOT_PART_BYTES,
      clock: this.clock,
    });
    this.puller = new ShardPuller({ at: this.at, remote, log: options.log, stats: this.counters, clock: this.clock });
    this.collectEveryMs = options.collectEveryMs ?? MAX_READ_MS;
    this.nextSweepAt = this.clock.now() + this.collectEveryMs; // not in the first rounds: they are the user's first sync
    this.collector =
      options.shard === 0 && this.collectEveryMs > 0
        ? new GarbageCollector({
            remote,
            keys: options.keys,
            database: options.database,
            device: options.device,
            shards: options.shards,
            clock: this.clock,
          })
        : undefined;
  }

  /** What this shard's sync has done so far; `pendingLsns` as of now (writes since the last round count). */
  get stats(): ShardSyncStats {
    this.counters.pendingLsns = Math.max(0, this.log.lastLocalLsn - this.uploader.uploadedLsn);
    this.counters.snapshotsUp = this.uploader.snapshotsUp;
    return this.counters;
  }

  /** The key of this device's manifest of the shard. */
  get ownKey(): string {
    return this.at.ownKey;
  }

  /** One round: upload this device's new events, then merge the other devices'. Rounds never overlap. */
  sync(): Promise<SyncRoundReport> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Uploads what this device wrote past its manifest. Returns the chunks uploaded. */
  upload(): Promise<number> {
    return this.uploader.upload();
  }

  /** Merges the other devices' new chunks of this shard. */
  pull(): Promise<{ merged: number; refused: { code: string; message: string }[] }> {
    return this.puller.pull();
  }

  private async round(): Promise<SyncRoundReport> {
    try {
      // The pull's LIST goes out with the upload's first request, not after its manifest swap: one round trip less
      // per round. A manifest that changes meanwhile is read next round (each one listed is read afresh anyway).
      const listing = this.puller.listManifests();
      listing.catch(() => undefined); // awaited by the pull; an upload that fails first ends the round without it
      const uploaded = this.stats.fenced ? 0 : await this.uploader.upload();
      const { merged, refused } = await this.puller.pull(listing);
      if (this.collector && refused.length === 0 && this.clock.now() >= this.nextSweepAt) {
        this.nextSweepAt = this.clock.now() + this.collectEveryMs;
        await this.collector.sweep();
      }
      this.stats.lastSyncAt = this.clock.now();
      this.stats.lastError = refused[0];
      return { uploaded, merged, refused };
    } catch (error) {
      this.stats.lastError = {
        code: isTidalError(error) ? error.code : 'Unreachable',
        message: error instanceof Error ? error.message : String(error),
      };
      if (isTidalError(error, 'WriterFenced')) this.stats.fenced = true;
      throw error;
    }
  }
}
