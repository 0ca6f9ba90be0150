/**
 * `ShardPuller`: the pull half of a shard's sync (docs/SYNC.md §7). It
 * lists the shard's manifests, reads those whose ETag changed, checks each
 * (authentic, under its own name, not rolled back, same shard count), and
 * merges the chunks past each device's cursor into the local log, once: a
 * chunk's events and the cursor they advance are one atomic append.
 *
 * A refused object stops that device's stream where it is (counted by
 * code, nothing of it merged); the other devices' streams go on.
 */
import { TidalError, isTidalError } from '../common/errors.js';
import { ENVELOPE_OVERHEAD, open } from './envelope.js';
import { MAX_CHUNK_OBJECT, MAX_MANIFEST_BYTES, decodeChunk, type ChunkEvent, type Manifest, type ManifestEntry } from './format.js';
import type { SyncLog } from './sync-log.js';
import type { SyncSpace } from './sync-space.js';
import { REFUSALS, type CountingRemote, type ShardSyncStats } from './sync-stats.js';

/** Pulls one shard from the user's other devices. */
export class ShardPuller {
  private readonly at: SyncSpace;
  private readonly remote: CountingRemote;
  private readonly log: SyncLog;
  private readonly stats: ShardSyncStats;
  /** ETag of each manifest when it was last fully merged: unchanged ones are not read again. */
  private readonly mergedEtag = new Map<string, string>();
  /** Highest manifest version seen per device (a lower one is a rollback). */
  private readonly seenVersion = new Map<string, number>();

  constructor(options: { at: SyncSpace; remote: CountingRemote; log: SyncLog; stats: ShardSyncStats }) {
    this.at = options.at;
    this.remote = options.remote;
    this.log = options.log;
    this.stats = options.stats;
  }

  /** Merges the other devices' new chunks of this shard. */
  async pull(): Promise<{ merged: number; refused: { code: string; message: string }[] }> {
    const listing = await this.remote.list(this.at.manifests);
    const refused: { code: string; message: string }[] = [];
    let merged = 0;
    let devices = 0;
    for (const entry of listing) {
      if (entry.key === this.at.ownKey) continue;
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
    const manifest = await this.at.openManifest(key, found.bytes);
    const cursor = this.checkManifest(manifest);
    const merged = await this.mergeChunks(manifest, await this.entriesAfter(manifest, cursor), cursor);
    this.mergedEtag.set(key, found.etag);
    return merged;
  }

  /** Checks another device's manifest against what this one knows; returns its cursor here. */
  private checkManifest(manifest: Manifest): number {
    if (manifest.device === this.at.device)
      throw new TidalError('ObjectMismatch', `a manifest under another name claims to be this device's`);
    if (manifest.shards !== this.at.shards) {
      throw new TidalError(
        'HeaderMismatch',
        `device ${manifest.device} syncs ${manifest.shards} shards, this one ${this.at.shards}: open both with the same shard count`,
      );
    }
    const seen = this.seenVersion.get(manifest.device) ?? 0;
    const cursor = this.log.cursor(manifest.device);
    if (manifest.version < seen || manifest.lsn < cursor) {
      throw new TidalError(
        'RolledBack',
        `device ${manifest.device}'s manifest of shard ${this.at.shard} went back (version ${manifest.version} after ${seen}, LSN ${manifest.lsn} below the ${cursor} merged here)`,
      );
    }
    this.seenVersion.set(manifest.device, manifest.version);
    return cursor;
  }

  /** Merges the chunks `entries` of `manifest`'s device, each as one atomic append with its cursor; returns the events merged. */
  private async mergeChunks(manifest: Manifest, entries: ManifestEntry[], cursor: number): Promise<number> {
    let mergedEvents = 0;
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
      const found = await this.remote.get(this.at.objectKey(name), MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
      if (!found) throw new TidalError('ObjectMismatch', `manifest page ${name} of device ${manifest.device} is missing from the store`);
      const page = await this.at.openPage(name, found.bytes, manifest.device, first.seq - 1);
      const last = page.entries[page.entries.length - 1]!;
      if (last.seq !== first.seq - 1 || last.to !== first.from - 1)
        throw new TidalError('ObjectMismatch', `manifest page ${name} does not end where the next entries start`);
      needed = [...page.entries.filter((e) => e.to > cursor), ...needed];
      first = page.entries[0];
      older = page.older;
    }
    if (first === undefined && manifest.lsn > cursor) throw new TidalError('MalformedMessage', 'a manifest with an LSN but no entries');
    return needed;
  }

  private async readChunk(device: string, entry: ManifestEntry): Promise<ChunkEvent[]> {
    const what = `chunk ${entry.seq} of device ${device}, shard ${this.at.shard}`;
    if (entry.size > MAX_CHUNK_OBJECT) throw new TidalError('PayloadTooLarge', `${what} is listed at ${entry.size} bytes`);
    const found = await this.remote.get(this.at.objectKey(entry.name), entry.size);
    if (!found) throw new TidalError('ObjectMismatch', `${what} (${entry.name}) is missing from the store`);
    this.at.checkName(entry.name, found.bytes);
    const plaintext = await open(this.at.keys, 'chunk', this.at.chunkContext(device, entry.seq, entry.from, entry.to), found.bytes, what);
    return decodeChunk(plaintext, entry.from, entry.to, what);
  }
}
