/**
 * The envelope of every object sync stores (docs/SYNC.md §4): an 8-byte
 * header (magic `TDSE`, version, kind), a random 96-bit nonce, and the
 * AES-256-GCM ciphertext of the plaintext. The associated data is the
 * header and the object's *context* (where it belongs: device, shard,
 * sequence...), which the reader builds from what it expects; so an object
 * moved, replayed or rolled back fails to open.
 *
 *     const sealed = await seal(keys, 'chunk', context, plaintext);
 *     const plaintext = await open(keys, 'chunk', context, sealed); // DecryptionFailed if anything differs
 */
import { Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { encodeValue, type Value } from '../wal/payload.js';

/** What sealing needs of the keys: the AES-256-GCM key (a `SyncKeys`, or the key alone where it was posted to, the seal worker). */
export interface AeadKey {
  readonly aead: CryptoKey;
}

/** Kinds of sync object. */
export type ObjectKind = 'chunk' | 'manifest' | 'page' | 'snapshot';

const MAGIC = [0x54, 0x44, 0x53, 0x45]; // TDSE
export const ENVELOPE_VERSION = 1;
/**
 * The envelope versions this build reads, per kind: the layout is the same in every version. A chunk's
 * version says the format of its plaintext (chunk-format.ts: 1; 2 and 3 carry its events as the log holds
 * them); chunk 3, page 2 and snapshot 2 and 3 are named by their header, nonce and tag (`namedParts`). A snapshot of
 * version 3 is one part of a snapshot (docs/SYNC.md §9).
 */
export const ENVELOPE_VERSIONS: Readonly<Record<ObjectKind, readonly number[]>> = {
  chunk: [1, 2, 3],
  manifest: [1],
  page: [1, 2],
  snapshot: [1, 2, 3],
};
/** The version each kind is sealed in (a manifest is not named: it lives under its key). */
export const SEAL_VERSIONS: Readonly<Record<ObjectKind, number>> = { chunk: 3, manifest: 1, page: 2, snapshot: 3 };
/** A snapshot's envelope version 3: one part of it (docs/SYNC.md §9), opened at `{ ..., lsn, part, parts }`; 1 and 2 hold a whole snapshot. */
export const SNAPSHOT_PART_VERSION = 3;
const KIND_CODES: Record<ObjectKind, number> = { chunk: 1, manifest: 2, page: 3, snapshot: 4 };
const HEADER_BYTES = 8;
/** Where the envelope's version byte is. */
export const ENVELOPE_VERSION_BYTE = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes an envelope adds to its plaintext. */
export const ENVELOPE_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/**
 * Whether the object whose envelope starts with `header` is named by its
 * header, nonce and tag alone (chunk 3, page 2, snapshot 2), not by all its
 * bytes: the tag authenticates the ciphertext (and the associated data)
 * under the AES key, so a changed byte of the ciphertext fails the open
 * (`DecryptionFailed`) and one of the header, the nonce or the tag fails
 * the name (`ObjectMismatch`); the name no longer hashes megabytes.
 */
export function namedByTag(header: Uint8Array): boolean {
  if (header.byteLength < HEADER_BYTES) return false;
  for (let i = 0; i < MAGIC.length; i++) if (header[i] !== MAGIC[i]) return false;
  const version = header[ENVELOPE_VERSION_BYTE]!;
  const kind = header[5];
  return kind === KIND_CODES.chunk ? version >= 3 : (kind === KIND_CODES.page || kind === KIND_CODES.snapshot) && version >= 2;
}

/** The bytes of a sealed object its name is the keyed BLAKE3 of, in order: its header, nonce and tag (`namedByTag`), or all of it. */
export function namedParts(sealed: Uint8Array): Uint8Array[] {
  if (sealed.byteLength < ENVELOPE_OVERHEAD || !namedByTag(sealed)) return [sealed];
  return [sealed.subarray(0, HEADER_BYTES + NONCE_BYTES), sealed.subarray(sealed.byteLength - TAG_BYTES)];
}

function header(kind: ObjectKind, version: number): Uint8Array {
  return new Uint8Array([...MAGIC, version, KIND_CODES[kind], 0, 0]);
}

function associatedData(head: Uint8Array, context: Value): Uint8Array {
  const encoder = new Encoder(128);
  encoder.writeRaw(head);
  encodeValue(encoder, context);
  return encoder.toBytes();
}

/** Seals `plaintext` as an object of `kind` belonging at `context`, in envelope `version` (one `ENVELOPE_VERSIONS` lists for the kind). */
export async function seal(
  keys: AeadKey,
  kind: ObjectKind,
  context: Value,
  plaintext: Uint8Array,
  version = SEAL_VERSIONS[kind],
): Promise<Uint8Array> {
  if (!ENVELOPE_VERSIONS[kind].includes(version)) throw new TidalError('InvalidArgument', `no envelope version ${version} for a ${kind}`);
  const head = header(kind, version);
  const nonce = new Uint8Array(NONCE_BYTES);
  crypto.getRandomValues(nonce);
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce, additionalData: associatedData(head, context) as BufferSource },
      keys.aead,
      plaintext as BufferSource,
    ),
  );
  const sealed = new Uint8Array(HEADER_BYTES + NONCE_BYTES + ciphertext.byteLength);
  sealed.set(head, 0);
  sealed.set(nonce, HEADER_BYTES);
  sealed.set(ciphertext, HEADER_BYTES + NONCE_BYTES);
  return sealed;
}

/**
 * Opens an object expected to be of `kind` at `context` (its version,
 * authenticated with the rest, is `sealed[ENVELOPE_VERSION_BYTE]`). Refuses with `BadMagic`,
 * `HeaderMismatch` (another kind), `UnsupportedVersion` or
 * `Truncated` before decrypting, and `DecryptionFailed` when the bytes,
 * the key or the context differ from what was sealed.
 */
export async function open(keys: AeadKey, kind: ObjectKind, context: Value, sealed: Uint8Array, what: string): Promise<Uint8Array> {
  if (sealed.byteLength < ENVELOPE_OVERHEAD)
    throw new TidalError('Truncated', `${what}: ${sealed.byteLength} bytes, shorter than an envelope`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (sealed[i] !== MAGIC[i]) throw new TidalError('BadMagic', `${what} is not a tidal sync object (no TDSE magic)`);
  }
  if (sealed[5] !== KIND_CODES[kind]) throw new TidalError('HeaderMismatch', `${what} is not a ${kind} (kind ${sealed[5]})`);
  if (!ENVELOPE_VERSIONS[kind].includes(sealed[ENVELOPE_VERSION_BYTE]!)) {
    throw new TidalError(
      'UnsupportedVersion',
      `${what} has envelope version ${sealed[ENVELOPE_VERSION_BYTE]}; this build reads ${ENVELOPE_VERSIONS[kind].join(' and ')} for a ${kind}`,
    );
  }
  if (sealed[6] !== 0 || sealed[7] !== 0) throw new TidalError('ReservedNotZero', `${what}: reserved envelope bytes are not zero`);
  const head = sealed.subarray(0, HEADER_BYTES);
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: sealed.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES) as BufferSource,
          additionalData: associatedData(head, context) as BufferSource,
        },
        keys.aead,
        sealed.subarray(HEADER_BYTES + NONCE_BYTES) as BufferSource,
      ),
    );
  } catch (error) {
    throw new TidalError(
      'DecryptionFailed',
      `${what} failed authentication: changed, moved from another place, or sealed with another user key`,
      { cause: error },
    );
  }
}
