/**
 * `ShardSync`: one shard of one device, synced through a `Remote`
 * (docs/SYNC.md). `upload()` seals the events this device wrote since its
 * manifest's LSN into chunks, writes them with put-if-absent, and swaps the
 * manifest (compare-and-swap, fenced by the writer epoch); `pull()` reads
 * the other devices' manifests of the shard that changed, and merges the
 * chunks past each device's cursor into the local log, once.
 *
 *     const sync = new ShardSync({ remote, keys, device, shard: 0, shards: 4, epoch: term, log });
 *     const report = await sync.sync(); // upload, then pull
 *
 * Everything read is untrusted: a manifest or chunk that fails a check is
 * refused with a `TidalError` code (counted in `stats.refused`), nothing of
 * it is merged, and the other devices' streams go on. A network failure
 * (`Unreachable`) ends the round; the scheduler retries with backoff.
 */
import { TidalError, isTidalError, type TidalErrorCode } from '../common/errors.js';
import type { CrdtOperation } from '../crdt/operation.js';
import { ENVELOPE_OVERHEAD, open, seal } from './envelope.js';
import {
  ChunkWriter,
  MANIFEST_ENTRIES,
  MAX_CHUNK_OBJECT,
  MAX_CHUNK_PLAINTEXT,
  MAX_MANIFEST_BYTES,
  decodeChunk,
  decodeManifest,
  decodePage,
  encodeManifest,
  encodePage,
  type ChunkEvent,
  type Manifest,
  type ManifestEntry,
} from './format.js';
import { listAll, type Remote } from './remote.js';
import type { SyncKeys } from './sync-key.js';

/** What sync needs of the local shard log. */
export interface SyncLog {
  /** Last LSN of the local log. */
  readonly lastLsn: number;
  /** LSN of the last event this device wrote (not merged from another device); 0 if none. */
  readonly lastLocalLsn: number;
  /** The events this device wrote, from LSN `from` on, in order (events merged from other devices are skipped). */
  localEvents(from: number): AsyncIterable<ChunkEvent>;
  /** How far `device`'s log is merged here (its LSN; 0: nothing). */
  cursor(device: string): number;
  /** Appends `ops` of `device` (one atomic append) and advances its cursor to `lsn`. */
  merge(device: string, lsn: number, ops: readonly CrdtOperation[]): Promise<void>;
}

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
  /** Largest chunk plaintext. Default 4 MiB. */
  readonly maxChunkBytes?: number;
  /** Most chunks uploaded per round (bounds what one round holds in memory). Default 16. */
  readonly maxChunksPerRound?: number;
  /** Wall clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** What a shard's sync has done, cumulatively. */
export interface ShardSyncStats {
  readonly shard: number;
  /** When the last round completed (ms), or `undefined`. */
  lastSyncAt: number | undefined;
  /** Why the last round failed, if it did. */
  lastError: { readonly code: string; readonly message: string } | undefined;
  objectsUp: number;
  bytesUp: number;
  objectsDown: number;
  bytesDown: number;
  /** Remote operations issued. */
  requests: number;
  /** Events merged from other devices. */
  eventsMerged: number;
  /** LSNs of the local log up to its last local write that no upload covers yet. */
  pendingLsns: number;
  /** Objects refused, by code. */
  refused: Record<string, number>;
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

/** Codes that mean "this object is bad", as opposed to "the store is unreachable". */
const REFUSALS = new Set<TidalErrorCode>([
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
class CountingRemote {
  private readonly remote: Remote;
  private readonly stats: ShardSyncStats;

  constructor(remote: Remote, stats: ShardSyncStats) {
    this.remote = remote;
    this.stats = stats;
  }

  async putIfAbsent(key: string, bytes: Uint8Array) {
    this.stats.requests++;
    const outcome = await this.remote.putIfAbsent(key, bytes);
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

  async get(key: string, maxBytes: number) {
    this.stats.requests++;
    const found = await this.remote.get(key, { maxBytes });
    if (found) {
      this.stats.objectsDown++;
      this.stats.bytesDown += found.bytes.byteLength;
    }
    return found;
  }

  async list(prefix: string) {
    this.stats.requests++;
    return listAll(this.remote, prefix, 10_000);
  }
}

/** One shard of one device, synced through a store. */
export class ShardSync {
  readonly stats: ShardSyncStats;
  private readonly remote: CountingRemote;
  private readonly keys: SyncKeys;
  private readonly device: string;
  private readonly shard: number;
  private readonly shards: number;
  private readonly epoch: number;
  private readonly log: SyncLog;
  private readonly maxChunkBytes: number;
  private readonly maxChunksPerRound: number;
  private readonly now: () => number;
  /** `<root>/<database folder>`: where this database's objects live, and part of every object's context. */
  private readonly space: string;
  private readonly prefix: string;
  private readonly ownKey: string;
  /** ETag of each manifest when it was last fully merged: unchanged ones are not read again. */
  private readonly mergedEtag = new Map<string, string>();
  /** Highest manifest version seen per device (a lower one is a rollback). */
  private readonly seenVersion = new Map<string, number>();
  /** The version of the own manifest this uploader last wrote. */
  private writtenVersion = 0;
  /** The own manifest as this uploader last wrote it, with its ETag. */
  private own: { manifest: Manifest; etag: string } | undefined;
  private readonly chunkWriter = new ChunkWriter();
  private running: Promise<SyncRoundReport> | undefined;

  constructor(options: ShardSyncOptions) {
    this.keys = options.keys;
    this.device = options.device;
    this.shard = options.shard;
    this.shards = options.shards;
    this.epoch = options.epoch;
    this.log = options.log;
    this.maxChunkBytes = options.maxChunkBytes ?? MAX_CHUNK_PLAINTEXT;
    this.maxChunksPerRound = options.maxChunksPerRound ?? 16;
    this.now = options.now ?? Date.now;
    this.stats = {
      shard: options.shard,
      lastSyncAt: undefined,
      lastError: undefined,
      objectsUp: 0,
      bytesUp: 0,
      objectsDown: 0,
      bytesDown: 0,
      requests: 0,
      eventsMerged: 0,
      pendingLsns: options.log.lastLocalLsn,
      refused: {},
      devices: 0,
      fenced: false,
    };
    this.remote = new CountingRemote(options.remote, this.stats);
    this.space = `${this.keys.root}/${this.keys.databaseName(options.database)}`;
    this.prefix = `tidal/${this.space}/m/${this.keys.shardName(this.shard)}/`;
    this.ownKey = this.prefix + this.keys.manifestName(this.device, this.shard);
  }

  /** One round: upload this device's new events, then merge the other devices'. Rounds never overlap. */
  sync(): Promise<SyncRoundReport> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<SyncRoundReport> {
    try {
      const uploaded = this.stats.fenced ? 0 : await this.upload();
      const { merged, refused } = await this.pull();
      this.stats.lastSyncAt = this.now();
      this.stats.lastError = refused[0];
      return { uploaded, merged, refused };
    } catch (error) {
      this.stats.lastError = {
        code: isTidalError(error) ? error.code : 'Unreachable',
        message: error instanceof Error ? error.message : String(error),
      };
      if (isTidalError(error, 'WriterFenced')) this.stats.fenced = true;
      throw error;
    } finally {
      this.updatePending();
    }
  }

  private uploadedLsn = 0;

  private updatePending(): void {
    this.stats.pendingLsns = Math.max(0, this.log.lastLocalLsn - this.uploadedLsn);
  }

  // ---- Upload --------------------------------------------------------------

  /** Uploads what this device wrote past its manifest. Returns the chunks uploaded. */
  async upload(): Promise<number> {
    let uploaded = 0;
    // Nothing new since the manifest this uploader last wrote: no request at all.
    if (this.own && this.log.lastLocalLsn <= this.own.manifest.lsn) return 0;
    for (let attempt = 0; ; attempt++) {
      // The manifest as last written here, if any (a swap on a stale ETag fails and reads it again).
      const current = attempt === 0 && this.own ? this.own : await this.readOwnManifest();
      const manifest = current?.manifest;
      if (manifest && manifest.epoch > this.epoch) {
        throw new TidalError(
          'WriterFenced',
          `shard ${this.shard}'s manifest is owned by a newer uploader (epoch ${manifest.epoch} > ${this.epoch}); this one stops`,
        );
      }
      if (manifest && manifest.version < this.writtenVersion) {
        throw new TidalError(
          'RolledBack',
          `the store serves version ${manifest.version} of this device's manifest, after ${this.writtenVersion} was written`,
        );
      }
      if (manifest && manifest.lsn > this.log.lastLsn) {
        throw new TidalError(
          'HeaderMismatch',
          `this device's manifest of shard ${this.shard} covers LSN ${manifest.lsn}, past the local log (${this.log.lastLsn}): the local data was reset; open the database under a new sync device id`,
        );
      }
      this.uploadedLsn = manifest?.lsn ?? 0;
      const chunks = await this.sealChunks(manifest);
      if (chunks.length === 0) return uploaded;
      for (const chunk of chunks) {
        // The name is the keyed hash of these bytes: if it exists, it holds exactly them.
        await this.remote.putIfAbsent(`tidal/${this.space}/o/${chunk.entry.name}`, chunk.sealed);
      }
      const next = await this.nextManifest(
        manifest,
        chunks.map((c) => c.entry),
      );
      const sealed = await seal(this.keys, 'manifest', this.manifestContext(this.ownKey), encodeManifest(next));
      const outcome = current
        ? await this.remote.putIfMatch(this.ownKey, sealed, current.etag)
        : await this.remote.putIfAbsent(this.ownKey, sealed);
      if (outcome.ok) {
        this.own = { manifest: next, etag: outcome.etag };
        this.writtenVersion = next.version;
        this.uploadedLsn = next.lsn;
        uploaded += chunks.length;
        if (chunks.length < this.maxChunksPerRound) return uploaded;
        attempt = -1; // a full round: go on with the rest
        continue;
      }
      // Lost the race (or our own swap landed and its answer was lost): read again and see.
      this.own = undefined;
      if (attempt >= 8) throw new TidalError('Unreachable', `shard ${this.shard}'s manifest kept changing under this uploader`);
    }
  }

  private async readOwnManifest(): Promise<{ manifest: Manifest; etag: string } | undefined> {
    const found = await this.remote.get(this.ownKey, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
    if (!found) return undefined;
    const manifest = await this.openManifest(this.ownKey, found.bytes);
    return { manifest, etag: found.etag };
  }

  /** Seals the local events after the manifest's LSN into chunks (at most `maxChunksPerRound`). */
  private async sealChunks(manifest: Manifest | undefined): Promise<{ entry: ManifestEntry; sealed: Uint8Array }[]> {
    const chunks: { entry: ManifestEntry; sealed: Uint8Array }[] = [];
    let from = (manifest?.lsn ?? 0) + 1;
    let seq = (manifest?.head ?? 0) + 1;
    if (this.log.lastLocalLsn < from) return chunks;
    const writer = this.chunkWriter;
    const flush = async () => {
      const to = writer.lastLsn;
      const plaintext = writer.finish();
      const sealed = await seal(this.keys, 'chunk', this.chunkContext(this.device, seq, from, to), plaintext);
      chunks.push({ entry: { seq, name: this.keys.objectName(sealed), size: sealed.byteLength, from, to }, sealed });
      seq++;
      from = to + 1;
    };
    for await (const event of this.log.localEvents(from)) {
      writer.add(event);
      if (writer.size >= this.maxChunkBytes) {
        await flush();
        if (chunks.length >= this.maxChunksPerRound) return chunks;
      }
    }
    if (writer.events > 0) await flush();
    return chunks;
  }

  /** The manifest after `added`: the newest entries kept, the oldest half moved to a page when it grows past the bound. */
  private async nextManifest(current: Manifest | undefined, added: ManifestEntry[]): Promise<Manifest> {
    let entries = [...(current?.entries ?? []), ...added];
    let older = current?.older ?? null;
    while (entries.length > MANIFEST_ENTRIES) {
      const moved = entries.slice(0, MANIFEST_ENTRIES / 2);
      entries = entries.slice(MANIFEST_ENTRIES / 2);
      const sealed = await seal(
        this.keys,
        'page',
        this.pageContext(this.device, moved[moved.length - 1]!.seq),
        encodePage({ entries: moved, older }),
      );
      const name = this.keys.objectName(sealed);
      await this.remote.putIfAbsent(`tidal/${this.space}/o/${name}`, sealed);
      older = name;
    }
    const newest = entries[entries.length - 1]!;
    return {
      device: this.device,
      shard: this.shard,
      shards: this.shards,
      epoch: this.epoch,
      version: (current?.version ?? 0) + 1,
      lsn: newest.to,
      head: newest.seq,
      entries,
      older,
    };
  }

  // ---- Pull ----------------------------------------------------------------

  /** Merges the other devices' new chunks of this shard. */
  async pull(): Promise<{ merged: number; refused: { code: string; message: string }[] }> {
    const listing = await this.remote.list(this.prefix);
    const refused: { code: string; message: string }[] = [];
    let merged = 0;
    let devices = 0;
    for (const entry of listing) {
      if (entry.key === this.ownKey) continue;
      devices++;
      if (this.mergedEtag.get(entry.key) === entry.etag) continue;
      try {
        merged += await this.pullManifest(entry.key);
      } catch (error) {
        if (!isTidalError(error) || !REFUSALS.has(error.code)) throw error;
        this.stats.refused[error.code] = (this.stats.refused[error.code] ?? 0) + 1;
        refused.push({ code: error.code, message: error.message });
      }
    }
    this.stats.devices = Math.max(this.stats.devices, devices);
    return { merged, refused };
  }

  /** Merges one device's chunks past its cursor; returns the events merged. */
  private async pullManifest(key: string): Promise<number> {
    const found = await this.remote.get(key, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
    if (!found) return 0;
    const manifest = await this.openManifest(key, found.bytes);
    if (manifest.device === this.device) throw new TidalError('ObjectMismatch', `a manifest under another name claims to be this device's`);
    if (manifest.shards !== this.shards) {
      throw new TidalError(
        'HeaderMismatch',
        `device ${manifest.device} syncs ${manifest.shards} shards, this one ${this.shards}: open both with the same shard count`,
      );
    }
    const seen = this.seenVersion.get(manifest.device) ?? 0;
    let cursor = this.log.cursor(manifest.device);
    if (manifest.version < seen || manifest.lsn < cursor) {
      throw new TidalError(
        'RolledBack',
        `device ${manifest.device}'s manifest of shard ${this.shard} went back (version ${manifest.version} after ${seen}, LSN ${manifest.lsn} below the ${cursor} merged here)`,
      );
    }
    this.seenVersion.set(manifest.device, manifest.version);
    let mergedEvents = 0;
    const entries = await this.entriesAfter(manifest, cursor);
    // The next chunk is fetched (and opened) while this one merges: the store's latency overlaps the work.
    const reads = new Map<number, Promise<ChunkEvent[]>>();
    const prefetch = (i: number) => {
      if (i >= entries.length || reads.has(i)) return;
      const read = this.readChunk(manifest.device, entries[i]!);
      read.catch(() => undefined); // awaited in its turn; a failure ahead of it must not go unhandled
      reads.set(i, read);
    };
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      prefetch(i);
      prefetch(i + 1);
      const events = await reads.get(i)!;
      reads.delete(i);
      const fresh = events.filter((e) => e.lsn > cursor);
      await this.log.merge(
        manifest.device,
        entry.to,
        fresh.flatMap((e) => e.ops),
      );
      cursor = entry.to;
      mergedEvents += fresh.length;
      this.stats.eventsMerged += fresh.length;
    }
    this.mergedEtag.set(key, found.etag);
    return mergedEvents;
  }

  /** The entries covering LSNs after `cursor`, walking back through pages as far as needed. */
  private async entriesAfter(manifest: Manifest, cursor: number): Promise<ManifestEntry[]> {
    let needed = manifest.entries.filter((e) => e.to > cursor);
    let first = manifest.entries[0];
    let older = manifest.older;
    let pages = 0;
    while (first && first.from > cursor + 1) {
      if (older === null) {
        throw new TidalError(
          'MalformedMessage',
          `device ${manifest.device}'s chunks start at LSN ${first.from}, but nothing before it is listed`,
        );
      }
      if (++pages > 100_000) throw new TidalError('LengthOutOfBounds', 'too many manifest pages');
      const name = older;
      const found = await this.remote.get(`tidal/${this.space}/o/${name}`, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
      if (!found) throw new TidalError('ObjectMismatch', `manifest page ${name} of device ${manifest.device} is missing from the store`);
      this.checkName(name, found.bytes);
      const what = `manifest page ${name}`;
      const page = decodePage(await open(this.keys, 'page', this.pageContext(manifest.device, first.seq - 1), found.bytes, what), what);
      const last = page.entries[page.entries.length - 1]!;
      if (last.seq !== first.seq - 1 || last.to !== first.from - 1)
        throw new TidalError('ObjectMismatch', `${what} does not end where the next entries start`);
      needed = [...page.entries.filter((e) => e.to > cursor), ...needed];
      first = page.entries[0];
      older = page.older;
    }
    if (first === undefined && manifest.lsn > cursor) throw new TidalError('MalformedMessage', 'a manifest with an LSN but no entries');
    return needed;
  }

  private async readChunk(device: string, entry: ManifestEntry): Promise<ChunkEvent[]> {
    const what = `chunk ${entry.seq} of device ${device}, shard ${this.shard}`;
    if (entry.size > MAX_CHUNK_OBJECT) throw new TidalError('PayloadTooLarge', `${what} is listed at ${entry.size} bytes`);
    const found = await this.remote.get(`tidal/${this.space}/o/${entry.name}`, entry.size);
    if (!found) throw new TidalError('ObjectMismatch', `${what} (${entry.name}) is missing from the store`);
    this.checkName(entry.name, found.bytes);
    const plaintext = await open(this.keys, 'chunk', this.chunkContext(device, entry.seq, entry.from, entry.to), found.bytes, what);
    return decodeChunk(plaintext, entry.from, entry.to, what);
  }

  private checkName(name: string, bytes: Uint8Array): void {
    if (this.keys.objectName(bytes) !== name) {
      throw new TidalError('ObjectMismatch', `object ${name}'s bytes do not match its name: changed, or another object's put in its place`);
    }
  }

  private async openManifest(key: string, bytes: Uint8Array): Promise<Manifest> {
    const what = `manifest ${key.slice(key.lastIndexOf('/') + 1)}`;
    const manifest = decodeManifest(await open(this.keys, 'manifest', this.manifestContext(key), bytes, what), what);
    if (this.prefix + this.keys.manifestName(manifest.device, manifest.shard) !== key || manifest.shard !== this.shard) {
      throw new TidalError(
        'ObjectMismatch',
        `${what} holds device ${manifest.device}'s shard ${manifest.shard}, which belongs under another name`,
      );
    }
    return manifest;
  }

  private manifestContext(key: string) {
    return { kind: 'manifest', space: this.space, name: key };
  }

  private chunkContext(device: string, seq: number, from: number, to: number) {
    return { kind: 'chunk', space: this.space, device, shard: this.shard, seq, from, to };
  }

  private pageContext(device: string, seq: number) {
    return { kind: 'page', space: this.space, device, shard: this.shard, seq };
  }
}
