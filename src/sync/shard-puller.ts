/**
 * `ShardPuller`: the pull half of a shard's sync (docs/SYNC.md §7). It
 * lists the shard's manifests, reads those whose ETag changed, checks each
 * (authentic, under its own name, not rolled back, same shard count), and
 * merges the chunks past each device's cursor into the local log, once: a
 * chunk's events and the cursor they advance are one atomic append.
 *
 * A device behind the chunks a manifest still lists (joining late, or back
 * from a long absence) starts from that device's snapshot, and so does one
 * for which the snapshot and the chunks after it are fewer bytes than the
 * chunks from its cursor (docs/SYNC.md §9): the snapshot's state is merged
 * (idempotent) with every cursor it covers, then the chunks after it.
 *
 * Chunks and snapshots over `RANGE_BYTES` are read in byte ranges, a few
 * at once (`readObject`); every GET of a pull shares one bound.
 *
 * A refused object stops that device's stream where it is (counted by
 * code, nothing of it merged); the other devices' streams go on.
 */
import type { Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { chunkFormatOf, decodeChunk, type ChunkEvent } from './chunk-format.js';
import { ENVELOPE_OVERHEAD, ENVELOPE_VERSION_BYTE } from './envelope.js';
import { CrdtSignalState, type CrdtStateDecoder } from '../crdt/signal-state.js';
import {
  MAX_CHUNK_OBJECT,
  MAX_MANIFEST_BYTES,
  MAX_SNAPSHOT_OBJECT,
  coveredLsn,
  decodeSnapshotBody,
  type Manifest,
  type ManifestEntry,
  type SnapshotEntry,
} from './format.js';
import { MAX_READ_MS } from './garbage-collector.js';
import { readObject } from './ranged-read.js';
import type { RemoteEntry } from './remote.js';
import { RequestPool } from './request-pool.js';
import type { SyncLog } from './sync-log.js';
import type { SyncSpace } from './sync-space.js';
import { REFUSALS, type CountingRemote, type ShardSyncStats } from './sync-stats.js';

/** How a device's stream is read: from the cursor by chunks, or from a snapshot and the chunks after it. */
interface PullPlan {
  readonly snapshot: SnapshotEntry | undefined;
  readonly entries: readonly ManifestEntry[];
}

const sizeOf = (entries: readonly ManifestEntry[]) => entries.reduce((sum, e) => sum + e.size, 0);

/** Pulls one shard from the user's other devices. */
export class ShardPuller {
  private readonly at: SyncSpace;
  private readonly remote: CountingRemote;
  private readonly log: SyncLog;
  private readonly stats: ShardSyncStats;
  private readonly clock: Clock;
  /** When the manifest being merged was read: its objects are read within `MAX_READ_MS` of it, or the rest waits for the next round. */
  private readAt = 0;
  /** ETag of each manifest when it was last fully merged: unchanged ones are not read again. */
  private readonly mergedEtag = new Map<string, string>();
  /** Highest manifest version seen per device (a lower one is a rollback). */
  private readonly seenVersion = new Map<string, number>();
  /** The chunk and snapshot GETs (whole or ranged) of the pull running, at most `DOWNLOAD_REQUESTS` in flight. */
  private requests = new RequestPool(DOWNLOAD_REQUESTS);

  constructor(options: { at: SyncSpace; remote: CountingRemote; log: SyncLog; stats: ShardSyncStats; clock: Clock }) {
    this.clock = options.clock;
    this.at = options.at;
    this.remote = options.remote;
    this.log = options.log;
    this.stats = options.stats;
  }

  /** Lists this shard's manifests (what `pull` starts from; a round starts it before its upload, docs/SYNC.md §7). */
  listManifests(): Promise<readonly RemoteEntry[]> {
    return this.remote.list(this.at.manifests);
  }

  /** Merges the other devices' new chunks of this shard, from `listing` (`listManifests`, listed now if not given). */
  async pull(listing?: Promise<readonly RemoteEntry[]>): Promise<{ merged: number; refused: { code: string; message: string }[] }> {
    const entries = await (listing ?? this.listManifests());
    this.requests = new RequestPool(DOWNLOAD_REQUESTS); // per pull: the pool gathers the outcomes of every request it ran
    const refused: { code: string; message: string }[] = [];
    let merged = 0;
    let devices = 0;
    for (const entry of entries) {
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

  /** Merges one device's stream past its cursor; returns the events merged. */
  private async pullManifest(key: string): Promise<number> {
    const found = await this.remote.get(key, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
    if (!found) return 0;
    this.readAt = this.clock.now();
    const manifest = await this.at.openManifest(key, found.bytes);
    let cursor = this.checkManifest(manifest);
    const plan = await this.plan(manifest, cursor);
    // The chunks are read ahead, a few at a time, while the snapshot (and each chunk before them) merges.
    const reads = new ChunkReads(plan.entries, (entry) => this.readChunk(manifest.device, entry));
    if (plan.snapshot) {
      const snapshot = this.readSnapshot(manifest.device, plan.snapshot); // its parts' GETs go first
      snapshot.catch(() => undefined); // awaited below
      reads.ahead(0);
      await this.mergeSnapshot(manifest.device, plan.snapshot, await snapshot);
      cursor = this.log.cursor(manifest.device);
    }
    const { merged, complete } = await this.mergeChunks(manifest, reads, cursor);
    if (complete) this.mergedEtag.set(key, found.etag);
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
    if (manifest.version < seen || coveredLsn(manifest) < cursor) {
      throw new TidalError(
        'RolledBack',
        `device ${manifest.device}'s manifest of shard ${this.at.shard} went back (version ${manifest.version} after ${seen}, LSN ${coveredLsn(manifest)} below the ${cursor} merged here)`,
      );
    }
    this.seenVersion.set(manifest.device, manifest.version);
    return cursor;
  }

  /** Merges the chunks of `manifest`'s device past `cursor`, each as one atomic append with its cursor; returns the events merged. */
  private async mergeChunks(manifest: Manifest, reads: ChunkReads, cursor: number): Promise<{ merged: number; complete: boolean }> {
    let mergedEvents = 0;
    const entries = reads.entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.to <= cursor) continue; // merged already (by the snapshot)
      // Past the read bound, an object this manifest lists may be collected (§10): the rest waits for a fresh read.
      if (this.clock.now() - this.readAt > MAX_READ_MS) return { merged: mergedEvents, complete: false };
      // The next chunks are fetched (and opened) while this one merges: the store's latency overlaps the work.
      reads.ahead(i);
      const events = await reads.take(i);
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
    return { merged: mergedEvents, complete: true };
  }

  /**
   * How to read `manifest`'s device from `cursor`: the chunks after it
   * (walking back through pages as far as needed), or the snapshot and the
   * chunks after the snapshot, when the chunks no longer reach back to the
   * cursor or would cost more bytes. Walking stops as soon as the snapshot
   * is known to be cheaper, so a reader far behind reads few pages.
   */
  private async plan(manifest: Manifest, cursor: number): Promise<PullPlan> {
    const snapshot = manifest.snapshot !== null && manifest.snapshot.lsn > cursor ? manifest.snapshot : undefined;
    let needed = manifest.entries.filter((e) => e.to > cursor);
    const fromSnapshot = (): PullPlan => ({ snapshot, entries: needed.filter((e) => e.to > snapshot!.lsn) });
    const snapshotCheaper = () => snapshot !== undefined && snapshot.size + sizeOf(fromSnapshot().entries) < sizeOf(needed);
    let first = manifest.entries[0];
    let older = manifest.older;
    let pages = 0;
    const start = Math.max(cursor, manifest.base);
    while (first && first.from > start + 1) {
      // The entries walked so far reach back past the snapshot: if it is already cheaper, stop here.
      if (snapshot && snapshot.lsn >= first.from - 1 && snapshotCheaper()) return fromSnapshot();
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
    const reaches = first ? first.from <= cursor + 1 : manifest.lsn <= cursor;
    if (!reaches) {
      // What is between the cursor and the chunks listed is only in the snapshot (the manifest's decoder checked one covers it).
      if (!snapshot)
        throw new TidalError('MalformedMessage', `device ${manifest.device}'s stream after LSN ${cursor} is in no chunk and no snapshot`);
      return fromSnapshot();
    }
    return snapshotCheaper() ? fromSnapshot() : { snapshot: undefined, entries: needed };
  }

  /**
   * Reads every part of another device's snapshot (several GETs at once, through the pull's pool), checks each
   * against its name and opens it as the part it is listed as as soon as it lands (in the seal worker, while the
   * next ones are still on their way), and returns the snapshot's plaintext (the parts' in order) with its state's
   * decoder: the state is decoded as far as the parts in so far reach from the first, while the next are in flight.
   */
  private async readSnapshot(device: string, entry: SnapshotEntry): Promise<ReadSnapshot> {
    const what = snapshotWhat(device, this.at.shard, entry);
    if (entry.size > MAX_SNAPSHOT_OBJECT) throw new TidalError('PayloadTooLarge', `${what} is listed at ${entry.size} bytes`);
    const { parts } = entry;
    const count = parts.length;
    // In a buffer with room around it, where the merge builds its WAL batch around the state (not copied again).
    const length = entry.size - count * ENVELOPE_OVERHEAD;
    const plaintext =
      count === 1
        ? undefined
        : new Uint8Array(STATE_IMPORT_ROOM + length + STATE_IMPORT_TAIL).subarray(STATE_IMPORT_ROOM, STATE_IMPORT_ROOM + length);
    const decoder = CrdtSignalState.decoder();
    const landed = new Array<boolean>(count).fill(false);
    let inOrder = 0; // parts in from the first on, without a gap
    let prefix = 0; // their bytes
    let stateAt = -1; // where the state starts in the body, once its header is in
    const decodeLanded = () => {
      const before = inOrder;
      for (; inOrder < count && landed[inOrder]; inOrder++) prefix += parts[inOrder]!.size - ENVELOPE_OVERHEAD;
      if (inOrder === before) return;
      const body = plaintext!.subarray(0, prefix);
      if (stateAt < 0) {
        try {
          stateAt = prefix - decodeSnapshotBody(body, entry.lsn, what).state.byteLength;
        } catch {
          return; // its header is not all in yet (or is refused: by mergeSnapshot, from all of it)
        }
      }
      decoder.advance(body.subarray(stateAt));
    };
    let offset = 0;
    const opened = parts.map(async (part, i) => {
      const at = offset; // where its plaintext goes: behind the parts before it (their listed sizes)
      offset += part.size - ENVELOPE_OVERHEAD;
      const partWhat = count === 1 ? what : `part ${i + 1} of ${count} of ${what}`;
      const names = this.at.keys.objectNameStream();
      const sealed = await readObject(this.remote, this.requests, this.at.objectKey(part.name), part.size, partWhat, names);
      if (!sealed) throw new TidalError('ObjectMismatch', `${partWhat} (${part.name}) is missing from the store`);
      const version = sealed[ENVELOPE_VERSION_BYTE]!; // authenticated with the rest by the open (and named: the header is)
      let context;
      if (version === 1 || version === 2) {
        if (count !== 1)
          throw new TidalError('MalformedMessage', `${partWhat} is a whole snapshot (envelope version ${version}), not a part`);
        context = this.at.snapshotContext(device, entry.lsn);
      } else context = this.at.snapshotPartContext(device, entry.lsn, i, count); // another version: refused by the open
      const bytes = await this.at.checkAndOpen(part.name, sealed, 'snapshot', context, partWhat, names);
      if (bytes.byteLength !== part.size - ENVELOPE_OVERHEAD)
        throw new TidalError('Truncated', `${partWhat}: ${bytes.byteLength} bytes opened, listed at ${part.size} sealed`);
      if (!plaintext) return bytes;
      plaintext.set(bytes, at);
      landed[i] = true;
      decodeLanded();
      return plaintext;
    });
    const all = await Promise.allSettled(opened);
    const failed = all.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return { plaintext: (all[0] as PromiseFulfilledResult<Uint8Array>).value, decoder, inPlace: plaintext !== undefined };
  }

  /** Checks and merges another device's snapshot, read (its state and every cursor it covers, one atomic append). */
  private async mergeSnapshot(device: string, entry: SnapshotEntry, { plaintext, decoder, inPlace }: ReadSnapshot): Promise<void> {
    const what = snapshotWhat(device, this.at.shard, entry);
    const body = decodeSnapshotBody(plaintext, entry.lsn, what);
    let state: CrdtSignalState;
    try {
      state = decoder.finish(body.state);
    } catch (error) {
      throw new TidalError(
        'MalformedMessage',
        `${what}: its state does not decode: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    const cursors = new Map([...body.cursors].filter(([other]) => other !== this.at.device && other !== device));
    cursors.set(device, entry.lsn);
    await this.log.mergeState(cursors, state, body.state, inPlace);
    this.stats.snapshotsMerged++;
  }

  private async readChunk(device: string, entry: ManifestEntry): Promise<ChunkEvent[]> {
    const what = `chunk ${entry.seq} of device ${device}, shard ${this.at.shard}`;
    if (entry.size > MAX_CHUNK_OBJECT) throw new TidalError('PayloadTooLarge', `${what} is listed at ${entry.size} bytes`);
    const names = this.at.keys.objectNameStream();
    const sealed = await readObject(this.remote, this.requests, this.at.objectKey(entry.name), entry.size, what, names);
    if (!sealed) throw new TidalError('ObjectMismatch', `${what} (${entry.name}) is missing from the store`);
    const context = this.at.chunkContext(device, entry.seq, entry.from, entry.to);
    const version = sealed[ENVELOPE_VERSION_BYTE]!; // authenticated with the rest by the open (which takes the bytes away)
    const plaintext = await this.at.checkAndOpen(entry.name, sealed, 'chunk', context, what, names);
    return decodeChunk(plaintext, chunkFormatOf(version), entry.from, entry.to, what);
  }
}

/** A snapshot read: its plaintext, and its state's decoder, advanced as far as the parts reached as they landed. */
interface ReadSnapshot {
  readonly plaintext: Uint8Array;
  readonly decoder: CrdtStateDecoder;
  /** The plaintext is in a buffer of this pull's own, `STATE_IMPORT_ROOM` bytes in front of it, `STATE_IMPORT_TAIL` after: the merge may write there. */
  readonly inPlace: boolean;
}

/**
 * Bytes kept free in front of a snapshot's plaintext (parts in several): with the snapshot's header, once read, room
 * for the WAL batch header and the state import event's head the merge writes there (`ShardLeader.mergeState`).
 */
const STATE_IMPORT_ROOM = 256;

/** Bytes kept free after it: room for the import events (about 85 bytes each) of the other cursors the snapshot advances. */
const STATE_IMPORT_TAIL = 2048;

const snapshotWhat = (device: string, shard: number, entry: SnapshotEntry) =>
  `snapshot at LSN ${entry.lsn} of device ${device}, shard ${shard}`;

/** How many GETs of chunks and snapshots (whole or a range of one) a pull keeps in flight; as many chunks are read ahead of the merge. */
export const DOWNLOAD_REQUESTS = 3;

/** A device's chunks, read ahead of the merge, at most `DOWNLOAD_REQUESTS` chunks at a time. */
class ChunkReads {
  readonly entries: readonly ManifestEntry[];
  private readonly read: (entry: ManifestEntry) => Promise<ChunkEvent[]>;
  private readonly started = new Map<number, Promise<ChunkEvent[]>>();

  constructor(entries: readonly ManifestEntry[], read: (entry: ManifestEntry) => Promise<ChunkEvent[]>) {
    this.entries = entries;
    this.read = read;
  }

  /** Starts reading chunk `i` and the next ones, up to the bound. */
  ahead(i: number): void {
    for (let j = i; j < Math.min(i + DOWNLOAD_REQUESTS, this.entries.length); j++) {
      if (this.started.has(j)) continue;
      const read = this.read(this.entries[j]!);
      read.catch(() => undefined); // awaited in its turn; a failure ahead of it must not go unhandled
      this.started.set(j, read);
    }
  }

  /** Chunk `i`'s events (read now if it was not read ahead), and lets go of it. */
  take(i: number): Promise<ChunkEvent[]> {
    const read = this.started.get(i) ?? this.read(this.entries[i]!);
    this.started.delete(i);
    return read;
  }
}
