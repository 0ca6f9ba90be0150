/**
 * `GarbageCollector`: deletes the objects of a database that no manifest
 * references any more (docs/SYNC.md §10): chunks and pages the manifests
 * dropped once a snapshot covered them, snapshots replaced by newer ones,
 * and orphans of uploads that crashed or lost the race before their
 * manifest swap. Safe against concurrent devices by the rule of §10: an
 * object is deleted only when this collector found it unreferenced at a
 * sweep that began at least `MAX_UPLOAD_MS` after it first listed the
 * object (so no live upload is still to reference it), and again at a sweep
 * that began at least `MAX_READ_MS` after that (so no reader that read a
 * manifest referencing it is still reading it). Durations only, on this
 * device's clock: devices' clocks need not agree. What it remembers lives
 * in memory; a reload starts the waits over, which only delays deletion.
 *
 * A sweep that cannot read every manifest (a refused one, a missing page)
 * deletes nothing: what it cannot read, it cannot know unreferenced.
 *
 *     const gc = new GarbageCollector({ remote, keys, database, shards, clock });
 *     const { deleted } = await gc.sweep();
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { ENVELOPE_OVERHEAD } from './envelope.js';
import { MAX_MANIFEST_BYTES, type Manifest, type ManifestPage } from './format.js';
import type { SyncKeys } from './sync-key.js';
import { SyncSpace } from './sync-space.js';
import type { CountingRemote } from './sync-stats.js';

/** How long an uploader may take from its first put of a round to its manifest swap (it gives up past it). */
export const MAX_UPLOAD_MS = 10 * 60_000;
/** How long a reader may take from reading a manifest to reading the last object it lists (it stops past it). */
export const MAX_READ_MS = 10 * 60_000;

const OBJECT_NAME = /^[0-9a-f]{64}$/;

/** What one sweep did. */
export interface SweepReport {
  /** Objects listed. */
  readonly objects: number;
  /** Objects some manifest references. */
  readonly referenced: number;
  /** Objects deleted by this sweep. */
  readonly deleted: number;
  /** Unreferenced objects still waiting out the rule. */
  readonly waiting: number;
}

/** What the collector remembers of an unreferenced object. */
interface Candidate {
  /** When a listing of this collector first held it. */
  readonly firstListed: number;
  /** When a sweep that began `MAX_UPLOAD_MS` after `firstListed` finished reading the manifests and found it unreferenced. */
  unreferencedAt: number | undefined;
}

/** Collects one database's unreferenced objects. */
export class GarbageCollector {
  private readonly remote: CountingRemote;
  private readonly clock: Clock;
  /** One space per shard (the manifests of every shard reference objects of the one `o/` folder). */
  private readonly shards: SyncSpace[];
  private readonly objects: string;
  private readonly candidates = new Map<string, Candidate>();
  /** Pages are immutable: each is read once. */
  private readonly pages = new Map<string, ManifestPage>();

  constructor(options: { remote: CountingRemote; keys: SyncKeys; database: string; device: string; shards: number; clock: Clock }) {
    this.remote = options.remote;
    this.clock = options.clock;
    this.shards = Array.from(
      { length: options.shards },
      (_, shard) => new SyncSpace(options.keys, options.database, options.device, shard, options.shards),
    );
    this.objects = this.shards[0]!.objectKey('');
  }

  /** Lists the objects, reads every manifest, and deletes what the rule lets go. */
  async sweep(): Promise<SweepReport> {
    const listedAt = this.clock.now();
    const listed = (await this.remote.list(this.objects)).map((e) => e.key.slice(this.objects.length)).filter((n) => OBJECT_NAME.test(n));
    const referenced = await this.referenced();
    const readAt = this.clock.now();
    const present = new Set(listed);
    for (const name of this.candidates.keys()) if (!present.has(name) || referenced.has(name)) this.candidates.delete(name);
    let deleted = 0;
    for (const name of listed) {
      if (referenced.has(name)) continue;
      const candidate = this.candidates.get(name);
      if (!candidate) {
        this.candidates.set(name, { firstListed: listedAt, unreferencedAt: undefined });
      } else if (candidate.unreferencedAt === undefined) {
        if (listedAt >= candidate.firstListed + MAX_UPLOAD_MS) candidate.unreferencedAt = readAt;
      } else if (listedAt >= candidate.unreferencedAt + MAX_READ_MS) {
        await this.remote.delete(this.objects + name);
        this.candidates.delete(name);
        deleted++;
      }
    }
    const stillReferenced = listed.filter((n) => referenced.has(n)).length;
    return { objects: listed.length, referenced: stillReferenced, deleted, waiting: this.candidates.size };
  }

  /** Every object name the manifests of every shard reference (throws when one cannot be read: nothing may be deleted then). */
  private async referenced(): Promise<Set<string>> {
    const names = new Set<string>();
    for (const at of this.shards) {
      for (const entry of await this.remote.list(at.manifests)) {
        const found = await this.remote.get(entry.key, MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
        if (!found) throw new TidalError('Unreachable', `manifest ${entry.key} vanished during the sweep`);
        await this.reference(at, await at.openManifest(entry.key, found.bytes), names);
      }
    }
    return names;
  }

  /** Adds what `manifest` references: its snapshot, its chunks after its base, and the pages down to the base with their chunks. */
  private async reference(at: SyncSpace, manifest: Manifest, names: Set<string>): Promise<void> {
    for (const part of manifest.snapshot?.parts ?? []) names.add(part.name);
    for (const entry of manifest.entries) if (entry.to > manifest.base) names.add(entry.name);
    let first = manifest.entries[0];
    let older = manifest.older;
    let pages = 0;
    while (first && first.from > manifest.base + 1 && older !== null) {
      if (++pages > 100_000) throw new TidalError('LengthOutOfBounds', 'too many manifest pages');
      const name = older;
      names.add(name);
      let page = this.pages.get(name);
      if (!page) {
        const found = await this.remote.get(at.objectKey(name), MAX_MANIFEST_BYTES + ENVELOPE_OVERHEAD);
        if (!found) throw new TidalError('ObjectMismatch', `manifest page ${name} of device ${manifest.device} is missing from the store`);
        page = await at.openPage(name, found.bytes, manifest.device, first.seq - 1);
        this.pages.set(name, page);
      }
      for (const entry of page.entries) if (entry.to > manifest.base) names.add(entry.name);
      first = page.entries[0];
      older = page.older;
    }
  }
}
