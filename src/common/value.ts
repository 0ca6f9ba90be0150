/**
 * The value codec (docs/PAYLOAD.md §2–§4): the one encoding of the values
 * tidal stores, with one tag table, used by the WAL payload (events), the
 * CRDT state (register values, set members) and everything that compares
 * or hashes values. A value is JSON-like plus `bigint` and `Uint8Array`.
 *
 * It writes a value in one of two forms, both made of the same tags:
 *
 * - the **exact form** (`encodeValue`, `exactValueBytes`) keeps a value as
 *   written: every number bit for bit (`-0`, `NaN`, `±Infinity`), object
 *   keys in the object's own order. The WAL and LWW registers use it.
 * - the **canonical form** (`encodeCanonicalValue`, `canonicalValueBytes`)
 *   is the exact form of the value's canonical representative: object keys
 *   sorted by code point, `-0` written as `0`. Two values are equal
 *   (`valuesEqual`) exactly when their canonical bytes are; sets key their
 *   members by these bytes, registers break ties and replicas hash with them.
 *
 *     const bytes = canonicalValueBytes({ b: -0, a: [NaN, 'x'] });
 *     decodeCanonicalValue(new Decoder(bytes)); // { a: [NaN, 'x'], b: 0 }
 *     valuesEqual({ a: 1, b: 2 }, { b: 2, a: 1 }); // true
 *
 * Encoding sits on the append hot path, so the happy path allocates
 * nothing per value but the key lists of objects: short ASCII strings are
 * written byte by byte, and the path of a refused part is rebuilt only
 * while a failure unwinds. Decoding reads untrusted bytes (a file, a
 * peer): every length is bounded by the bytes remaining, nesting by a
 * depth limit, and every failure is a `TidalError`.
 *
 * The parts: value-bounds.ts (the types and limits), value-tags.ts (the
 * tag table), value-codec.ts (the writer), value-read.ts (the reader),
 * value-skip.ts (reading past a value), utf8.ts (strings), value-order.ts
 * (the orders); this file names the two forms and is what the rest imports.
 */
import { Decoder, Encoder } from './bytes.js';
import { TidalError } from './errors.js';
import { MAX_EVENT_DEPTH, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, type CrdtValue, type Value } from './value-bounds.js';
import { EncodeFailure, toTidalError, writeValue } from './value-codec.js';
import { CANONICAL_FORM, EXACT_FORM, readValue } from './value-read.js';
import { sameBytes } from './value-order.js';

export { MAX_BIGINT_BITS, MAX_EVENT_DEPTH, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, type CrdtValue, type Value } from './value-bounds.js';
export { describeLoneSurrogate, isWellFormedString, readUtf8, writeUtf8 } from './utf8.js';
export { bytesKey, compareBytes, compareCodePoints, compareStrings } from './value-order.js';
export { EncodeFailure, toTidalError, writeEmbeddedValue } from './value-codec.js';

// ---------------------------------------------------------------- public encoders

/**
 * Appends `value` in the exact form. `maxDepth` bounds the nesting
 * (default `MAX_EVENT_DEPTH`, as for a WAL event; `MAX_VALUE_DEPTH` for a
 * stored value); `root` names the value in error messages. Throws
 * `TidalError('Unencodable')` naming the refused part's path (e.g.
 * `value.tags[2]`) for what docs/PAYLOAD.md §4 lists; the encoder then
 * holds a partial value and must be rewound or discarded.
 */
export function encodeValue(encoder: Encoder, value: Value, maxDepth = MAX_EVENT_DEPTH, root = 'value'): void {
  try {
    writeValue(encoder, value, 0, maxDepth, false);
  } catch (error) {
    if (error instanceof EncodeFailure) throw toTidalError(error, root);
    throw error;
  }
}

/** Appends `value` in the canonical form. Throws `Unencodable` as `encodeValue` does. */
export function encodeCanonicalValue(encoder: Encoder, value: CrdtValue, root = 'value'): void {
  try {
    writeValue(encoder, value as Value, 0, MAX_VALUE_DEPTH, true);
  } catch (error) {
    if (error instanceof EncodeFailure) throw toTidalError(error, root);
    throw error;
  }
}

/** One encoder reused for standalone values; taken out of the slot while in use, so a re-entrant call (a getter that encodes) gets its own. */
let scratch: Encoder | null = new Encoder(256);

function withScratch<T>(use: (encoder: Encoder) => T): T {
  const encoder = scratch ?? new Encoder(64);
  scratch = null;
  encoder.length = 0;
  try {
    return use(encoder);
  } finally {
    encoder.length = 0;
    if (encoder.bytesView().buffer.byteLength <= 1 << 16) scratch = encoder;
  }
}

/** The exact-form bytes of a stored value (a fresh buffer of exactly that size). Throws `Unencodable`. */
export function exactValueBytes(value: CrdtValue): Uint8Array {
  return withScratch((encoder) => (encodeValue(encoder, value as Value, MAX_VALUE_DEPTH), encoder.toBytes()));
}

/** The canonical bytes of a stored value (a fresh buffer of exactly that size). Throws `Unencodable`. */
export function canonicalValueBytes(value: CrdtValue): Uint8Array {
  return withScratch((encoder) => (encodeCanonicalValue(encoder, value), encoder.toBytes()));
}

/**
 * Checks that `value` can be stored: encodable in a write event and at
 * most `MAX_VALUE_BYTES` encoded. Throws `Unencodable` (naming the part)
 * or `PayloadTooLarge`; returns the encoded size.
 */
export function assertStorableValue(value: unknown, root = 'value'): number {
  const size = withScratch((encoder) => (encodeValue(encoder, value as Value, MAX_VALUE_DEPTH, root), encoder.length));
  if (size > MAX_VALUE_BYTES) {
    throw new TidalError('PayloadTooLarge', `${root} encodes to ${size} bytes, over the ${MAX_VALUE_BYTES}-byte bound of a stored value`, {
      details: { size, max: MAX_VALUE_BYTES },
    });
  }
  return size;
}

/** True when the values `a` and `b` are equal (docs/PAYLOAD.md §3): when their canonical bytes are. Throws `Unencodable` for a non-value container. */
export function valuesEqual(a: CrdtValue, b: CrdtValue): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    // -0 === 0 and NaN is NaN, as in the canonical form.
    if (typeof a === 'number' && typeof b === 'number') return a === b || (a !== a && b !== b);
    return a === b;
  }
  return sameBytes(canonicalValueBytes(a), canonicalValueBytes(b));
}

/**
 * The canonical representative of a value given its canonical bytes: a
 * private copy for containers (so later changes to the caller's object
 * cannot reach a state), `0` for `-0`, the value itself for other primitives.
 */
export function canonicalValue(value: CrdtValue, canonicalBytes: Uint8Array): CrdtValue {
  if (value === null || typeof value !== 'object') return value === 0 ? 0 : value;
  return readValue(new Decoder(canonicalBytes), 0, MAX_VALUE_DEPTH);
}

/** A private copy of a value given its exact-form bytes (containers are decoded from them; primitives are returned as they are). */
export function ownedValue(value: CrdtValue, exactBytes: Uint8Array): CrdtValue {
  if (value === null || typeof value !== 'object') return value;
  return readValue(new Decoder(exactBytes), 0, MAX_VALUE_DEPTH);
}

// ---------------------------------------------------------------- public decoders

/**
 * Reads one value in any well-formed form (the WAL's reader: it accepts
 * forms an encoder never writes, such as an integer as f64, or any NaN
 * bits). `maxDepth` bounds nesting (default `MAX_EVENT_DEPTH`). Refuses, with a `TidalError`: bytes
 * that end early (`Truncated`), lengths past the end or past a bound
 * (`LengthOutOfBounds`), anything else malformed (`MalformedPayload`).
 * Byte strings are decoded as copies, never views into the decoder's bytes.
 */
export function decodeValue(decoder: Decoder, maxDepth = MAX_EVENT_DEPTH): Value {
  return readValue(decoder, 0, maxDepth);
}

/**
 * Reads one stored value and its bytes, refusing (`MalformedPayload`) any
 * form but the exact form an encoder writes, so that a state decodes and
 * re-encodes to the same bytes. The bytes are a copy.
 */
export function decodeExactValue(decoder: Decoder): { value: Value; bytes: Uint8Array } {
  const start = decoder.offset;
  const value = readValue(decoder, 0, MAX_VALUE_DEPTH, EXACT_FORM);
  return { value, bytes: decoder.bytes.slice(start, decoder.offset) };
}

/** `decodeExactValue` without the copy of the bytes (a reader that keeps them only for some values slices them itself). */
export function readExactValue(decoder: Decoder): Value {
  return readValue(decoder, 0, MAX_VALUE_DEPTH, EXACT_FORM);
}

/**
 * Reads one value in the canonical form, and its bytes, refusing
 * (`MalformedPayload`) any other form of it (keys out of order, `-0`, a
 * longer form of a number, another NaN). The bytes are a copy.
 */
export function decodeCanonicalValue(decoder: Decoder): { value: CrdtValue; bytes: Uint8Array } {
  const start = decoder.offset;
  const value = readValue(decoder, 0, MAX_VALUE_DEPTH, CANONICAL_FORM);
  return { value, bytes: decoder.bytes.slice(start, decoder.offset) };
}

/**
 * Reads a count of items that take at least `minItemBytes` each, refusing
 * (`LengthOutOfBounds`) one that could not fit in what remains, so a peer
 * cannot make a reader loop or allocate for items that are not there.
 */
export function readCount(decoder: Decoder, minItemBytes: number, what: string): number {
  const at = decoder.offset;
  const count = decoder.readVarUint();
  if (count * minItemBytes > decoder.remaining) {
    throw new TidalError('LengthOutOfBounds', `${what} at offset ${at} claims ${count} items, but only ${decoder.remaining} bytes remain`, {
      details: { offset: at, count, remaining: decoder.remaining },
    });
  }
  return count;
}
