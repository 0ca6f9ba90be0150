/**
 * `SyncSpace`: where one shard of one device's database lives in the
 * bucket, and how its objects are named, placed and checked (docs/SYNC.md
 * §3, §4): the manifest keys, the object keys, the associated-data context
 * of each kind of object, and the checks every object read passes (its
 * name against its bytes, a manifest against the key it was read from).
 * The uploader and the puller of a shard share one.
 */
import { TidalError } from '../common/errors.js';
import { open, type ObjectKind } from './envelope.js';
import { decodeManifest, decodePage, type Manifest, type ManifestPage } from './format.js';
import type { ObjectNameStream, SyncKeys } from './sync-key.js';
import type { Value } from '../common/value.js';

/** A shard of a device's database, as placed in the bucket. */
export class SyncSpace {
  readonly keys: SyncKeys;
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

  snapshotContext(device: string, lsn: number) {
    return { kind: 'snapshot', space: this.space, device, shard: this.shard, lsn };
  }

  /** Refuses (`ObjectMismatch`) bytes that are not the object `name` names. */
  checkName(name: string, bytes: Uint8Array): void {
    if (this.keys.objectName(bytes) !== name) throw mismatch(name);
  }

  /**
   * Checks `bytes` against `name` (`ObjectMismatch`) and opens them
   * (`DecryptionFailed`, ...), refusing with the name check's code first, as
   * if it ran first. The decryption starts first and runs while the name is
   * hashed: WebCrypto works off this thread, so the two overlap instead of
   * adding up (each about as long as the object's download on loopback).
   * `hashed`: the stream the object's first parts were hashed into as
   * they arrived (`readObject`); the rest of `bytes` is hashed into it here.
   */
  async checkAndOpen(
    name: string,
    bytes: Uint8Array,
    kind: ObjectKind,
    context: Value,
    what: string,
    hashed?: ObjectNameStream,
  ): Promise<Uint8Array> {
    const opening = open(this.keys, kind, context, bytes, what);
    opening.catch(() => undefined); // a name that does not match wins over what the decryption says
    if (hashed) {
      hashed.update(bytes.subarray(hashed.bytes));
      if (hashed.name() !== name) throw mismatch(name);
    } else this.checkName(name, bytes);
    return opening;
  }

  /** Authenticates and decodes the manifest read from `key`, and checks it is the one `key` is derived from. */
  async openManifest(key: string, bytes: Uint8Array): Promise<Manifest> {
    const what = `manifest ${key.slice(key.lastIndexOf('/') + 1)}`;
    const manifest = decodeManifest(await open(this.keys, 'manifest', this.manifestContext(key), bytes, what), what);
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

function mismatch(name: string): TidalError {
  return new TidalError('ObjectMismatch', `object ${name}'s bytes do not match its name: changed, or another object's put in its place`);
}
