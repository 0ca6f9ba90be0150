/**
 * `ShardUploader`: the upload half of a shard's sync (docs/SYNC.md §5, §6,
 * §9). It seals the events this device wrote past its manifest's LSN into
 * chunks of at most `maxChunkBytes`, writes each with put-if-absent under
 * its content name, and swaps the manifest with compare-and-swap on the
 * ETag it read, carrying its writer epoch: a manifest of a higher epoch
 * fences it (`WriterFenced`), one that went back is `RolledBack`.
 *
 * Snapshots: once the chunks listed since the last snapshot outweigh it
 * (and `snapshotMinBytes`), the round also uploads the shard's state and
 * drops from the manifest the chunks the previous snapshot covers; when
 * the local log was compacted past what the manifest covers (sync enabled
 * late, say), the chain restarts from a snapshot. The log is told to keep
 * everything the manifest does not cover yet (`SyncLog.retain`).
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { yieldToEventLoop } from '../common/event-loop.js';
import { ENVELOPE_OVERHEAD, SNAPSHOT_PART_VERSION } from './envelope.js';
import { CHUNK_COUNT_BYTES, CHUNK_VERSION, ChunkWriter } from './chunk-format.js';
import {
  MANIFEST_ENTRIES,
  MAX_MANIFEST_BYTES,
  coveredLsn,
  encodeManifest,
  encodePage,
  encodeSnapshotBody,
  snapshotParts,
  type Manifest,
  type ManifestEntry,
  type SnapshotEntry,
} from './format.js';
import { MAX_UPLOAD_MS } from './garbage-collector.js';
import { RequestPool } from './request-pool.js';
import type { SealedObject } from './sealer.js';
import type { SyncLog } from './sync-log.js';
import type { SyncSpace } from './sync-space.js';
import type { CountingRemote } from './sync-stats.js';

/** How many of a round's objects may be being put at once. */
export const UPLOAD_REQUESTS = 3;
/** How many chunks may be being sealed at once (cut from the log, not yet handed on): the next is cut while these seal. */
const CHUNKS_SEALING = 3;

/** Bytes of events a round reads from the log between two turns of the event loop, at most (besides one per chunk cut). */
const CUT_TURN_BYTES = 1 << 20;

/** What a chunk's manifest entry says of it before it is named: its place and its sealed size. */
type ChunkRange = Pick<ManifestEntry, 'seq' | 'size' | 'from' | 'to'>;

/** A chunk sealed for upload, with the entry the manifest will list it under. */
interface SealedChunk {
  readonly entry: ManifestEntry;
  readonly sealed: Uint8Array;
  /** `sealed` as the seal worker made it a `Blob` (what the store's PUT sends), if it did. */
  readonly body: Blob | undefined;
}

/** Uploads one shard of this device. */
export class ShardUploader {
  private readonly at: SyncSpace;
  private readonly remote: CountingRemote;
  private readonly log: SyncLog;
  private readonly epoch: number;
  private readonly maxChunkBytes: number;
  private readonly maxChunksPerRound: number;
  private readonly snapshotMinBytes: number;
  private readonly snapshotPartBytes: number;
  private readonly clock: Clock;
  private readonly chunkWriter: ChunkWriter;
  /** The version of the own manifest this uploader last wrote. */
  private writtenVersion = 0;
  /** The own manifest as this uploader last wrote it, with its ETag. */
  private own: { manifest: Manifest; etag: string } | undefined;
  /** The last LSN the own manifest covers, as last read or written. */
  uploadedLsn = 0;
  /** Snapshots this uploader stored. */
  snapshotsUp = 0;

  constructor(options: {
    at: SyncSpace;
    remote: CountingRemote;
    log: SyncLog;
    epoch: number;
    maxChunkBytes: number;
    maxChunksPerRound: number;
    snapshotMinBytes: number;
    snapshotPartBytes: number;
    clock: Clock;
  }) {
    this.at = options.at;
    this.remote = options.remote;
    this.log = options.log;
    this.epoch = options.epoch;
    this.maxChunkBytes = options.maxChunkBytes;
    this.chunkWriter = new ChunkWriter(Math.min(options.maxChunkBytes, 1 << 26)); // a chunk's buffer: the largest chunk, sealed
    this.maxChunksPerRound = options.maxChunksPerRound;
    this.snapshotMinBytes = options.snapshotMinBytes;
    if (!Number.isSafeInteger(options.snapshotPartBytes) || options.snapshotPartBytes < 1)
      throw new TidalError('InvalidArgument', `snapshotPartBytes must be a positive integer, got ${options.snapshotPartBytes}`);
    this.snapshotPartBytes = options.snapshotPartBytes;
    this.clock = options.clock;
  }

  /** Uploads what this device wrote past its manifest. Returns the chunks uploaded. */
  async upload(): Promise<number> {
    let uploaded = 0;
    // Nothing new since the manifest this uploader last wrote, or nothing written here at all (a device that only
    // reads, or has just joined): no request at all, not even the read of its own manifest.
    if (this.log.lastLocalLsn === 0 || (this.own && this.log.lastLocalLsn <= coveredLsn(this.own.manifest))) return 0;
    for (let attempt = 0; ; attempt++) {
      // The manifest as last written here, if any (a swap on a stale ETag fails and reads it again).
      const current = attempt === 0 && this.own ? this.own : await this.readOwnManifest();
      const manifest = current?.manifest;
      this.checkOwnManifest(manifest);
      this.uploadedLsn = manifest ? coveredLsn(manifest) : 0;
      const chainEnd = manifest?.lsn ?? 0;
      this.log.retain(chainEnd + 1);
      let next: Manifest;
      let chunks: SealedChunk[] = [];
      const firstPutAt = this.clock.now();
      if (this.log.lastLocalLsn > chainEnd && this.log.firstLsn > chainEnd + 1) {
        // The log no longer holds what follows the chunks (compacted): the chain restarts from the state.
        next = this.restartedManifest(manifest, await this.putSnapshot(manifest?.snapshot));
      } else {
        // Each chunk's put is queued as soon as it is sealed (at most UPLOAD_REQUESTS run at once), and
        // sealing goes on meanwhile: this thread, not the store, is what bounds a round here, so it
        // never waits for a slot. The manifest is swapped only once every put is done. A snapshot due is
        // taken as soon as the chunks cut so far make it due (their sealed sizes are known when they are
        // cut), its sealing queued right behind theirs and its put once it is sealed: it is the round's
        // largest object, one stream that then overlaps the other puts, and the next chunks are cut and
        // sealed while it seals.
        const puts = new RequestPool(UPLOAD_REQUESTS);
        const queued: Promise<void>[] = [];
        const put = (name: string, sealed: Uint8Array, body: Blob | undefined) =>
          // The name is the keyed hash of these bytes: if it exists, it holds exactly them.
          queued.push(puts.start(() => this.remote.putIfAbsent(this.at.objectKey(name), sealed, body)));
        let snapshot: Promise<SnapshotEntry> | undefined;
        try {
          const cut: ChunkRange[] = [];
          const onCut = (chunk: ChunkRange, handedOn: Promise<void>) => {
            cut.push(chunk);
            if (snapshot !== undefined || !this.snapshotDue(manifest, cut)) return;
            // Taken once the chunk that made it due is handed on and the tasks its put queued had their turn (its
            // request signed and sent): encoding the state is the round's longest task, which would hold that put
            // back. Each part is then put as soon as it is sealed (the seal worker seals them one after another).
            snapshot = handedOn.then(yieldToEventLoop).then(() => {
              const taken = this.sealSnapshot(manifest?.snapshot);
              return settleAll(taken.parts.map((part) => part.then((p) => put(p.name, p.sealed, p.body)))).then(() => taken.entry);
            });
            snapshot.catch(() => undefined); // awaited below, after the chunks
          };
          chunks = await this.sealChunks(manifest, onCut, async (chunk) => {
            put(chunk.entry.name, chunk.sealed, chunk.body);
          });
          if (chunks.length === 0) return uploaded;
          next = await this.nextManifest(
            manifest,
            chunks.map((c) => c.entry),
          );
          if (snapshot) next = this.withSnapshot(next, await snapshot);
          await Promise.all(queued);
          await puts.drain();
          if (snapshot) this.snapshotsUp++;
        } finally {
          await snapshot?.catch(() => undefined); // its put queued, if it was sealed ...
          await Promise.all(queued); // ... every queued put started (start itself never fails) ...
          await puts.settled(); // ... and done, after a failure too: no put of this round outlives it
        }
      }
      if (this.clock.now() - firstPutAt > MAX_UPLOAD_MS) {
        // The garbage collector may take objects this old and unreferenced for orphans (§10): give up, the next round puts anew.
        throw new TidalError(
          'Timeout',
          `shard ${this.at.shard}'s upload took over ${MAX_UPLOAD_MS} ms from its first put to its manifest swap`,
        );
      }
      const { sealed } = await this.at.sealer.seal('manifest', this.at.manifestContext(this.at.ownKey), encodeManifest(next));
      const outcome = current
        ? await this.remote.putIfMatch(this.at.ownKey, sealed, current.etag)
        : await this.remote.putIfAbsent(this.at.ownKey, sealed);
      if (outcome.ok) {
        this.own = { manifest: next, etag: outcome.etag };
        this.writtenVersion = next.version;
        this.uploadedLsn = coveredLsn(next);
        this.log.retain(next.lsn + 1);
        uploaded += chunks.length;
        if (chunks.length > 0 && chunks.length < this.maxChunksPerRound) return uploaded;
        attempt = -1; // a full round, or a restart from a snapshot: go on with the rest
        continue;
      }
      // Lost the race (or our own swap landed and its answer was lost): read again and see.
      this.own = undefined;
      if (attempt >= 8) throw new TidalError('Unreachable', `shard ${this.at.shard}'s manifest kept changing under this uploader`);
    }
  }

  /**
   * A snapshot is due once the chunks the manifest would list after the last one (with `added`)
   * weigh more than it (and at least `snapshotMinBytes`).
   */
  private snapshotDue(current: Manifest | undefined, added: readonly ChunkRange[]): boolean {
    const snapshot = current?.snapshot ?? null;
    const since = snapshot?.lsn ?? 0;
    let bytes = 0;
    for (const entry of listedEntries([...(current?.entries ?? []), ...added])) if (entry.from > since) bytes += entry.size;
    return bytes >= Math.max(this.snapshotMinBytes, snapshot?.size ?? 0);
  }

  /**
   * Takes the shard's state now and starts sealing it as a snapshot's parts (docs/SYNC.md §9): one promise per
   * part, each settled once that part is sealed, and the manifest entry once all are. Its body is encoded into a
   * buffer the size of the `previous` snapshot and a quarter (states grow), so that it is seldom copied into a
   * larger one as it is written.
   */
  private sealSnapshot(previous: SnapshotEntry | null | undefined): { parts: Promise<SealedObject>[]; entry: Promise<SnapshotEntry> } {
    const source = this.log.snapshot();
    const cursors = new Map([...source.cursors].filter(([device]) => device !== this.at.device));
    const capacity = previous ? previous.size + (previous.size >> 2) + 65_536 : 1 << 20;
    const plaintext = encodeSnapshotBody({ lsn: source.lsn, cursors, state: source.state }, capacity);
    const { count, partBytes } = snapshotParts(plaintext.byteLength, this.snapshotPartBytes);
    const contexts = Array.from({ length: count }, (_, i) => this.at.snapshotPartContext(this.at.device, source.lsn, i, count));
    const parts = this.at.sealer.sealParts('snapshot', contexts, plaintext, partBytes, SNAPSHOT_PART_VERSION);
    const entry = settleAll(parts).then((sealed) => {
      const listed = sealed.map((p) => ({ name: p.name, size: p.sealed.byteLength }));
      return { lsn: source.lsn, size: listed.reduce((sum, p) => sum + p.size, 0), parts: listed };
    });
    entry.catch(() => undefined); // a part that failed reaches whoever awaits its own promise
    return { parts, entry };
  }

  /** Seals the shard's state now and stores it (`previous`: the snapshot the manifest lists), each part put once sealed; returns its manifest entry. */
  private async putSnapshot(previous: SnapshotEntry | null | undefined): Promise<SnapshotEntry> {
    const { parts, entry } = this.sealSnapshot(previous);
    const puts = new RequestPool(UPLOAD_REQUESTS);
    try {
      for (const part of parts) {
        const { name, sealed, body } = await part;
        await puts.start(() => this.remote.putIfAbsent(this.at.objectKey(name), sealed, body));
      }
      await puts.drain();
    } finally {
      await settleAll(parts).catch(() => undefined); // every part sealed or failed ...
      await puts.settled(); // ... and every put started done: none outlives the round
    }
    this.snapshotsUp++;
    return entry;
  }

  /**
   * `manifest` with the new `snapshot`; the chunks the previous snapshot
   * covers are dropped from it (a reader that far behind starts from the
   * new one), so the chain a reader may walk spans two snapshots at most.
   */
  private withSnapshot(manifest: Manifest, snapshot: SnapshotEntry): Manifest {
    let base = manifest.base;
    const previous = manifest.snapshot;
    if (previous) for (const entry of manifest.entries) if (entry.from - 1 <= previous.lsn) base = Math.max(base, entry.from - 1);
    const entries = manifest.entries.filter((e) => e.to > base);
    const older = entries[0]?.from === base + 1 ? null : manifest.older;
    return { ...manifest, base, entries, older, snapshot };
  }

  /** The manifest after a restart from `snapshot`: no chunks listed, the next one starts after the snapshot. */
  private restartedManifest(current: Manifest | undefined, snapshot: SnapshotEntry): Manifest {
    return {
      device: this.at.device,
      shard: this.at.shard,
      shards: this.at.shards,
      epoch: this.epoch,
      version: (current?.version ?? 0) + 1,
      lsn: snapshot.lsn,
      head: current?.head ?? 0,
      entries: [],
      older: null,
      base: snapshot.lsn,
      snapshot,
    };
  }

  /** Refuses to go on under a newer uploader's manifest, a rolled-back one, or one past the local log. */
  private checkOwnManifest(manifest: Manifest | undefined): void {
    if (!manifest) return;
    if (manifest.epoch > this.epoch) {
      throw new TidalError(
        'WriterFenced',
        `shard ${this.at.shard}'s manifest is owned by a newer uploader (epoch ${manifest.epoch} > ${this.epoch}); this one stops`,
      );
    }
    if (manifest.version < this.writtenVersion) {
      throw new TidalError(
        'RolledBack',
        `the store serves version ${manifest.version} of this device's manifest, after ${this.writtenVersion} was written`,
      );
    }
    if (coveredLsn(manifest) > this.log.lastLsn) {
      throw new TidalError(
        'HeaderMismatch',
        `this device's manifest of shard ${this.at.shard} covers LSN ${coveredLsn(manifest)}, past the local log (${this.log.lastLsn}): the local data was reset; open the database under a new sync device id`,
      );
    }
  }

  private async readOwnManifest(): Promise<{ manifest: Manifest; etag: string } | undefined> {
    const found = await this.remote.get(this.at.ownKey, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
    if (!found) return undefined;
    const manifest = await this.at.openManifest(this.at.ownKey, found.bytes);
    return { manifest, etag: found.etag };
  }

  /**
   * Seals the local events after the manifest's LSN into chunks (at most `maxChunksPerRound`), telling `onCut` of
   * each as it is cut (its sealed size is known then) and handing each to `onSealed` in order (awaited: its backpressure). A chunk ends before the event that would take its sealed size past
   * `maxChunkBytes` (an event larger than that on its own has a chunk of its own). Each chunk's sealing starts as soon
   * as it is cut (in the seal worker, where there is one), and the next one is cut from the log meanwhile, with at most
   * `CHUNKS_SEALING` cut and not yet handed on; between cuts this thread lets its queued tasks run (the answers of the
   * seal worker and of the store, which start the next puts).
   */
  private async sealChunks(
    manifest: Manifest | undefined,
    onCut: (chunk: ChunkRange, handedOn: Promise<void>) => void,
    onSealed: (chunk: SealedChunk) => Promise<void>,
  ): Promise<SealedChunk[]> {
    const chunks: SealedChunk[] = [];
    let from = (manifest?.lsn ?? 0) + 1;
    let seq = (manifest?.head ?? 0) + 1;
    if (this.log.lastLocalLsn < from) return chunks;
    const writer = this.chunkWriter;
    const room = this.maxChunkBytes - ENVELOPE_OVERHEAD - CHUNK_COUNT_BYTES;
    const sealing: Promise<void>[] = []; // the chunks cut and not yet handed on, in order
    let handedOn: Promise<void> = Promise.resolve();
    let read = 0; // bytes of events read since this thread last let its queued tasks run
    // The chunk's range ends where the next starts: at the LSN before the first event left for the next one.
    const cut = async (to: number) => {
      const [chunkSeq, chunkFrom] = [seq, from];
      const plaintext = writer.finish();
      const size = plaintext.byteLength + ENVELOPE_OVERHEAD; // what it weighs sealed
      const sealed = this.at.sealer.seal('chunk', this.at.chunkContext(this.at.device, seq, from, to), plaintext, CHUNK_VERSION);
      sealed.catch(() => undefined); // awaited in its turn below; a failure meanwhile must not go unhandled
      handedOn = handedOn.then(async () => {
        const { sealed: bytes, name, body } = await sealed;
        const chunk = { entry: { seq: chunkSeq, name, size: bytes.byteLength, from: chunkFrom, to }, sealed: bytes, body };
        chunks.push(chunk);
        await onSealed(chunk);
      });
      handedOn.catch(() => undefined); // the last one is awaited; an earlier failure reaches it through the chain
      const thisOne = handedOn;
      sealing.push(handedOn);
      seq++;
      from = to + 1;
      if (sealing.length >= CHUNKS_SEALING) await sealing.shift();
      await yieldToEventLoop();
      // After the queued answers had their turn (puts start), not before: a snapshot it makes due is a long task.
      onCut({ seq: chunkSeq, size, from: chunkFrom, to }, thisOne);
    };
    try {
      for await (const { lsn, bytes } of this.log.localEvents(from)) {
        if (writer.events > 0 && writer.size + ChunkWriter.cost(lsn, bytes.byteLength) > room) {
          await cut(writer.lastLsn);
          if (seq - 1 - (manifest?.head ?? 0) >= this.maxChunksPerRound) break;
        }
        writer.add(lsn, bytes); // copied: the event's bytes may change once the next is asked for
        read += bytes.byteLength;
        if (read >= CUT_TURN_BYTES) {
          // The seal worker's answers and the store's (a put done: the next one starts) are handled between cuts
          // and every CUT_TURN_BYTES within one, not held back for all of a chunk's cutting.
          read = 0;
          await yieldToEventLoop();
        }
      }
      if (writer.events > 0 && seq - 1 - (manifest?.head ?? 0) < this.maxChunksPerRound) await cut(writer.lastLsn);
      await handedOn;
      return chunks;
    } finally {
      writer.reset(); // a round cut short (the bound, a failure) leaves nothing in the writer for the next one
      await handedOn.catch(() => undefined); // no chunk of this round is handed on after it ended
    }
  }

  /** The manifest after `added`: the newest entries kept, the oldest half moved to a page when it grows past the bound. */
  private async nextManifest(current: Manifest | undefined, added: ManifestEntry[]): Promise<Manifest> {
    let entries = [...(current?.entries ?? []), ...added];
    let older = current?.older ?? null;
    const base = current?.base ?? 0;
    while (entries.length > MANIFEST_ENTRIES) {
      const moved = entries.slice(0, MANIFEST_ENTRIES / 2);
      entries = entries.slice(MANIFEST_ENTRIES / 2);
      const { sealed, name } = await this.at.sealer.seal(
        'page',
        this.at.pageContext(this.at.device, moved[moved.length - 1]!.seq),
        encodePage({ entries: moved, older }),
      );
      await this.remote.putIfAbsent(this.at.objectKey(name), sealed);
      older = moved[moved.length - 1]!.to > base ? name : null; // a page wholly before the base is not listed
    }
    const newest = entries[entries.length - 1]!;
    return {
      device: this.at.device,
      shard: this.at.shard,
      shards: this.at.shards,
      epoch: this.epoch,
      version: (current?.version ?? 0) + 1,
      lsn: newest.to,
      head: newest.seq,
      entries,
      older,
      base,
      snapshot: current?.snapshot ?? null,
    };
  }
}

/** Every one of `promises` settled: their values, or the first failure (in order) once all settled. */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const outcomes = await Promise.allSettled(promises);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<T>).value);
}

/** The entries a manifest keeps listed of `entries` (the newest; the oldest halves go to pages while over `MANIFEST_ENTRIES`). */
function listedEntries<E extends ChunkRange>(entries: readonly E[]): readonly E[] {
  let listed = entries;
  while (listed.length > MANIFEST_ENTRIES) listed = listed.slice(MANIFEST_ENTRIES / 2);
  return listed;
}
