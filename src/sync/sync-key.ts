/**
 * The user key and what is derived from it (docs/SYNC.md §2): the
 * AES-256-GCM key every object is sealed with, the naming key that makes
 * object names meaningless to the store, and the user's folder in the
 * bucket. The key is 32 bytes, from a passphrase (Argon2id) or generated
 * on the first device and copied to the others as text.
 *
 *     const userKey = await deriveUserKey('correct horse battery staple', 'ada@example.org');
 *     // or: const text = generateUserKey(); ... const userKey = parseUserKey(text);
 *     const keys = await SyncKeys.from(userKey);
 *     keys.objectName(sealedBytes); // 64 hex digits
 */
import { argon2id, createBLAKE3, type IHasher } from 'hash-wasm';
import { TidalError } from '../common/errors.js';
import { namedParts } from './envelope.js';

/** Argon2id parameters (OWASP's minimum for Argon2id): 19 MiB, 2 passes, 1 lane, 32 bytes out. */
export const ARGON2ID_PARAMETERS = { memorySize: 19_456, iterations: 2, parallelism: 1, hashLength: 32 } as const;
/** Length of the user key in bytes. */
export const USER_KEY_BYTES = 32;
const KEY_TEXT_PREFIX = 'tidal-key-1:';

const utf8 = new TextEncoder();

/** The user key from a passphrase and the account name (the salt, the same on every device). */
export async function deriveUserKey(passphrase: string, account: string): Promise<Uint8Array> {
  if (typeof passphrase !== 'string' || passphrase.length < 8) {
    throw new TidalError('InvalidArgument', 'the sync passphrase must be a string of at least 8 characters');
  }
  if (typeof account !== 'string' || account.length === 0 || account.length > 256) {
    throw new TidalError('InvalidArgument', 'the sync account name must be a string of 1..256 characters');
  }
  return argon2id({
    password: passphrase,
    salt: utf8.encode(`tidal-sync/v1/${account}`),
    ...ARGON2ID_PARAMETERS,
    outputType: 'binary',
  });
}

/** A new random user key, as the text the user copies to their other devices. */
export function generateUserKey(): string {
  const key = new Uint8Array(USER_KEY_BYTES);
  crypto.getRandomValues(key);
  return KEY_TEXT_PREFIX + toBase64Url(key);
}

/** The user key from the text `generateUserKey` gave. */
export function parseUserKey(text: string): Uint8Array {
  if (typeof text !== 'string' || !text.startsWith(KEY_TEXT_PREFIX)) {
    throw new TidalError('InvalidArgument', `a sync key starts with ${KEY_TEXT_PREFIX}; check that it was copied whole`);
  }
  const key = fromBase64Url(text.slice(KEY_TEXT_PREFIX.length).trim());
  if (key?.byteLength !== USER_KEY_BYTES) {
    throw new TidalError(
      'InvalidArgument',
      `a sync key holds ${USER_KEY_BYTES} bytes in base64url; this one does not, check that it was copied whole`,
    );
  }
  return key;
}

/** An object's name, hashed over its bytes as they arrive (`SyncKeys.objectNameStream`). */
export interface ObjectNameStream {
  /** Bytes hashed so far. */
  readonly bytes: number;
  /** Hashes the next `part` of the object. */
  update(part: Uint8Array): void;
  /** The name of the bytes hashed so far (64 hex digits). */
  name(): string;
  /** The hash state of the bytes so far (hash-wasm's `save` form, key included), for the seal worker to go on from. */
  save(): Uint8Array;
}

/** What sync derives from the user key. */
export class SyncKeys {
  /** The user's folder in the bucket (32 hex digits). */
  readonly root: string;
  /** The AES-256-GCM key (non-extractable). */
  readonly aead: CryptoKey;
  private readonly names: IHasher;

  private constructor(root: string, aead: CryptoKey, names: IHasher) {
    this.root = root;
    this.aead = aead;
    this.names = names;
  }

  /** Derives the sub-keys (keyed BLAKE3 of fixed labels) from a 32-byte user key. */
  static async from(userKey: Uint8Array): Promise<SyncKeys> {
    if (!(userKey instanceof Uint8Array) || userKey.byteLength !== USER_KEY_BYTES) {
      throw new TidalError('InvalidArgument', `the user key must be ${USER_KEY_BYTES} bytes`);
    }
    const prf = await createBLAKE3(256, userKey);
    const derive = (label: string) => {
      prf.init();
      prf.update(utf8.encode(label));
      return prf.digest('binary');
    };
    const aesKey = derive('tidal-sync/v1/aes-256-gcm');
    const namingKey = derive('tidal-sync/v1/names');
    const root = toHex(derive('tidal-sync/v1/root').subarray(0, 16));
    const aead = await crypto.subtle.importKey('raw', aesKey as BufferSource, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    aesKey.fill(0);
    const names = await createBLAKE3(256, namingKey);
    namingKey.fill(0);
    return new SyncKeys(root, aead, names);
  }

  /** The name of an immutable object: keyed BLAKE3 of its bytes as stored (`namedParts`: of its header, nonce and tag, where its version says so), 64 hex digits. */
  objectName(sealed: Uint8Array): string {
    this.names.init();
    for (const part of namedParts(sealed)) this.names.update(part);
    return toHex(this.names.digest('binary'));
  }

  /**
   * `objectName` of an object named by all its bytes (not `namedByTag`), given in order, in parts: a ranged read hashes
   * each part as it arrives, while the next ones are still downloading.
   * Streams may be interleaved (each keeps its own hash state).
   */
  objectNameStream(): ObjectNameStream {
    const names = this.names;
    names.init();
    let state = names.save();
    let bytes = 0;
    return {
      get bytes() {
        return bytes;
      },
      update(part: Uint8Array) {
        names.load(state);
        names.update(part);
        state = names.save();
        bytes += part.byteLength;
      },
      name() {
        names.load(state);
        return toHex(names.digest('binary'));
      },
      save() {
        return state;
      },
    };
  }

  /**
   * The naming key's hasher, initialised, in hash-wasm's `save` form: what the
   * seal worker (`sealer.ts`) names objects with (`load` it into any BLAKE3
   * hasher). It holds the naming key: it goes to that worker and nowhere else.
   */
  namingState(): Uint8Array {
    this.names.init();
    return this.names.save();
  }

  /** The folder of a database of the user's (its name hidden): 16 hex digits. */
  databaseName(database: string): string {
    this.names.init();
    this.names.update(utf8.encode(`database/${database}`));
    return toHex(this.names.digest('binary').subarray(0, 8));
  }

  /** The folder of a shard's manifests: 16 hex digits. */
  shardName(shard: number): string {
    this.names.init();
    this.names.update(utf8.encode(`shard/${shard}`));
    return toHex(this.names.digest('binary').subarray(0, 8));
  }

  /** The name of a device's manifest of a shard: 32 hex digits. */
  manifestName(device: string, shard: number): string {
    this.names.init();
    this.names.update(utf8.encode(`manifest/${device}/${shard}`));
    return toHex(this.names.digest('binary').subarray(0, 16));
  }
}

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
