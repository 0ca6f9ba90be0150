/**
 * `SyncSpace`: where one shard of one device's database lives in the
 * bucket, and how its objects are named, placed and checked (docs/SYNC.md
 * §3, §4): the manifest keys, the object keys, the associated-data context
 * of each kind of object, and the checks every object read passes (its
 * name against its bytes, a manifest against the key it was read from).
 * The uploader and the puller of a shard share one.
 */
import { TidalError } from '../common/errors.js';
import type { ObjectKind } from './envelope.js';
import { decodeManifest, decodePage, type Manifest, type ManifestPage } from './format.js';
import { sealerFor, type Sealer } from './sealer.js';
import type { ObjectNameStream, SyncKeys } from './sync-key.js';
import type { Value } from '../common/value.js';

/** A shard of a device's database, as placed in the bucket. */
export class SyncSpace {
  readonly keys: SyncKeys;
  /** Seals and opens this space's objects (off this thread where it can: `sealerFor`). */
  readonly sealer: Sealer;
  readonly device: string;
  readonly shard: number;
  readonly shards: number;
  /** `<root>/<database folder>`: where this database's objects live, and part of every object's context. */
  readonly space: string;
  /** The folder of this shard's manifests (one per device). */
  readonly manifests: string;
  /** This device's manifest of the shard. */
  readonly ownKey: string;

  constructor(keys: SyncKeys, database: string, device: string, shard: number, shards: number) {
    this.keys = keys;
    this.sealer = sealerFor(keys); // a seal worker starts loading now, before the first object is sealed
    this.device = device;
    this.shard = shard;
    this.shards = shards;
    this.space = `${keys.root}/${keys.databaseName(database)}`;
    this.manifests = `tidal/${this.space}/m/${keys.shardName(shard)}/`;
    this.ownKey = this.manifests + keys.manifestName(device, shard);
  }

  /** The key of an immutable object (chunk, page). */
  objectKey(name: string): string {
    return `tidal/${this.space}/o/${name}`;
  }

  manifestContext(key: string) {
    return { kind: 'manifest', space: this.space, name: key };
  }

  chunkContext(device: string, seq: number, from: number, to: number) {
    return { kind: 'chunk', space: this.space, device, shard: this.shard, seq, from, to };
  }

  pageContext(device: string, seq: number) {
    return { kind: 'page', space: this.space, device, shard: this.shard, seq };
  }

  /** The context of a whole snapshot (envelope version 1 or 2, read only). */
  snapshotContext(device: string, lsn: number) {
    return { kind: 'snapshot', space: this.space, device, shard: this.shard, lsn };
  }

  /** The context of part `part` (from 0) of a snapshot of `parts` parts (envelope version 3). */
  snapshotPartContext(device: string, lsn: number, part: number, parts: number) {
    return { kind: 'snapshot', space: this.space, device, shard: this.shard, lsn, part, parts };
  }

  /**
   * Checks `bytes` against `name` (`ObjectMismatch`), then opens them
   * (`DecryptionFailed`, ...), through the sealer (in its worker where
   * there is one). `hashed`: the stream the object's first parts were
   * hashed into as they arrived (`readObject`); the rest of `bytes` is
   * hashed after it. `bytes`' buffer is given away.
   */
  checkAndOpen(
    name: string,
    bytes: Uint8Array,
    kind: ObjectKind,
    context: Value,
    what: string,
    hashed?: ObjectNameStream,
  ): Promise<Uint8Array> {
    return this.sealer.open(kind, context, bytes, what, hashed ? { name, hashed } : { name });
  }

  /** Authenticates and decodes the manifest read from `key`, and checks it is the one `key` is derived from. */
  async openManifest(key: string, bytes: Uint8Array): Promise<Manifest> {
    const what = `manifest ${key.slice(key.lastIndexOf('/') + 1)}`;
    const manifest = decodeManifest(await this.sealer.open('manifest', this.manifestContext(key), bytes, what), what);
    if (this.manifests + this.keys.manifestName(manifest.device, manifest.shard) !== key || manifest.shard !== this.shard) {
      throw new TidalError(
        'ObjectMismatch',
        `${what} holds device ${manifest.device}'s shard ${manifest.shard}, which belongs under another name`,
      );
    }
    return manifest;
  }

  /** Checks, authenticates and decodes page `name` of `device`, whose last entry is chunk `seq`. */
  async openPage(name: string, bytes: Uint8Array, device: string, seq: number): Promise<ManifestPage> {
    const what = `manifest page ${name}`;
    return decodePage(await this.checkAndOpen(name, bytes, 'page', this.pageContext(device, seq), what), what);
  }
}
