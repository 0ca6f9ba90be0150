/**
 * The canonical encoding of the values CRDT registers and sets hold
 * (docs/CRDT.md, "Values"). A value is JSON-like plus `bigint` and
 * `Uint8Array`; equal values always encode to identical bytes (object keys
 * sorted, one encoding per number), which is what lets registers break ties
 * and sets order their members by bytes, and lets whole states be compared
 * byte for byte.
 *
 *     const bytes = canonicalValueBytes({ b: 1n, a: [true, 'x'] });
 *     decodeCanonicalValue(new Decoder(bytes)); // { a: [true, 'x'], b: 1n }
 *
 * This is the CRDT layer's own codec, independent of the WAL event payload.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';

/** A value a register or a set can hold. Treat values handed out by a state as read-only. */
export type CrdtValue =
  null | boolean | number | bigint | string | Uint8Array | readonly CrdtValue[] | { readonly [name: string]: CrdtValue };

/** Deepest nesting of arrays and objects a value may have. */
export const MAX_VALUE_DEPTH = 64;

/** Longest bigint magnitude, in LEB128 bytes (7 bits each, so up to 7168 bits). */
export const MAX_BIGINT_BYTES = 1024;

/** Type tags, one byte in front of every value. */
const Tag = {
  Null: 0,
  False: 1,
  True: 2,
  /** Safe non-negative integer (not -0): VarUint of the value. */
  UInt: 3,
  /** Safe negative integer: VarUint of `-value - 1`. */
  NegInt: 4,
  /** Any other finite number (fractions, -0, integers past 2^53): f64. */
  Float: 5,
  /** Non-negative bigint: VarBigUint of the value. */
  BigUInt: 6,
  /** Negative bigint: VarBigUint of `-value - 1`. */
  BigNegInt: 7,
  String: 8,
  Bytes: 9,
  Array: 10,
  Object: 11,
} as const;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** True when `text` has no unpaired surrogate (so it survives UTF-8 unchanged). */
export function isWellFormedString(text: string): boolean {
  // ES2024's String.prototype.isWellFormed where the engine has it (Chromium, Node 20), a regex elsewhere.
  return nativeIsWellFormed ? nativeIsWellFormed.call(text) : !LONE_SURROGATE.test(text);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const asciiScratch = new Uint8Array(64);

/**
 * Writes a string exactly as `Encoder.writeString` does (VarUint UTF-8
 * length, then the bytes), with a fast path for short ASCII: keys, names
 * and replica ids are mostly that, and a `TextEncoder` call per string
 * costs more than the rest of encoding an entity in a browser.
 */
export function writeUtf8(enc: Encoder, text: string): void {
  const n = text.length;
  if (n <= asciiScratch.length) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      asciiScratch[i] = c;
    }
    if (i === n) {
      enc.writeU8(n); // n <= 64 < 0x80: a one-byte VarUint
      enc.writeRaw(asciiScratch.subarray(0, n));
      return;
    }
  }
  enc.writeString(text);
}

/**
 * Reads a length-prefixed UTF-8 string like `Decoder.readString`, with a
 * fast path for short ASCII (keys, names, replica ids), which a
 * `TextDecoder` call per string would make the slowest part of decoding.
 * Throws `MalformedPayload` for invalid UTF-8.
 */
export function readUtf8(dec: Decoder): string {
  const at = dec.offset;
  const bytes = dec.readBytes();
  if (bytes.length <= 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new TidalError('MalformedPayload', `string at offset ${at} is not valid UTF-8`, { cause });
  }
}

/** Orders strings by UTF-16 code units (JavaScript's default order), the order of every sorted string list in the canonical encoding. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders byte strings lexicographically (a proper prefix sorts first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Writes the canonical encoding of `value`; throws `Unencodable` (nothing useful written) for anything outside `CrdtValue`. */
export function encodeCanonicalValue(enc: Encoder, value: CrdtValue): void {
  writeValue(enc, value, 0);
}

/** The canonical bytes of `value` (a fresh buffer of exactly that size). */
export function canonicalValueBytes(value: CrdtValue): Uint8Array {
  const enc = new Encoder(32);
  writeValue(enc, value, 0);
  return enc.toBytes();
}

function unencodable(message: string): TidalError {
  return new TidalError('Unencodable', message);
}

function writeValue(enc: Encoder, value: unknown, depth: number): void {
  switch (typeof value) {
    case 'boolean':
      enc.writeU8(value ? Tag.True : Tag.False);
      return;
    case 'number':
      writeNumber(enc, value);
      return;
    case 'bigint':
      writeBigint(enc, value);
      return;
    case 'string':
      if (!isWellFormedString(value)) throw unencodable('a string holds an unpaired UTF-16 surrogate, which UTF-8 cannot carry');
      enc.writeU8(Tag.String);
      writeUtf8(enc, value);
      return;
    case 'object':
      if (value === null) {
        enc.writeU8(Tag.Null);
        return;
      }
      if (depth >= MAX_VALUE_DEPTH) {
        throw unencodable(`value nests deeper than ${MAX_VALUE_DEPTH} arrays/objects (a cycle?)`);
      }
      if (value instanceof Uint8Array) {
        enc.writeU8(Tag.Bytes);
        enc.writeBytes(value);
        return;
      }
      if (Array.isArray(value)) {
        enc.writeU8(Tag.Array);
        enc.writeVarUint(value.length);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw unencodable(`array has a hole at index ${i}`);
          writeValue(enc, value[i], depth + 1);
        }
        return;
      }
      writeObject(enc, value, depth);
      return;
    default:
      throw unencodable(`a ${typeof value} is not a CRDT value (null, boolean, number, bigint, string, Uint8Array, array, plain object)`);
  }
}

function writeNumber(enc: Encoder, value: number): void {
  if (!Number.isFinite(value)) throw unencodable(`number ${value} is not finite`);
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
    if (value >= 0) {
      enc.writeU8(Tag.UInt);
      enc.writeVarUint(value);
    } else {
      enc.writeU8(Tag.NegInt);
      enc.writeVarUint(-value - 1);
    }
    return;
  }
  enc.writeU8(Tag.Float);
  enc.writeF64(value);
}

function writeBigint(enc: Encoder, value: bigint): void {
  const magnitude = value >= 0n ? value : -value - 1n;
  // 7 bits per LEB128 byte.
  if (magnitude.toString(16).length * 4 > MAX_BIGINT_BYTES * 7) {
    throw unencodable(`bigint needs more than ${MAX_BIGINT_BYTES * 7} bits`);
  }
  enc.writeU8(value >= 0n ? Tag.BigUInt : Tag.BigNegInt);
  enc.writeVarBigUint(magnitude);
}

function writeObject(enc: Encoder, value: object, depth: number): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw unencodable(`a ${typeof name === 'string' ? name : 'non-plain object'} is not a CRDT value; use a plain object`);
  }
  const names = Object.keys(value).sort(compareStrings);
  enc.writeU8(Tag.Object);
  enc.writeVarUint(names.length);
  for (const name of names) {
    if (!isWellFormedString(name)) throw unencodable('an object key holds an unpaired UTF-16 surrogate');
    const field = (value as Record<string, unknown>)[name];
    if (field === undefined) throw unencodable(`object key ${JSON.stringify(name)} is undefined; omit it or use null`);
    writeUtf8(enc, name);
    writeValue(enc, field, depth + 1);
  }
}

function malformed(dec: Decoder, message: string): TidalError {
  return new TidalError('MalformedPayload', `${message} (at offset ${dec.offset})`, { details: { offset: dec.offset } });
}

/**
 * Reads one canonically encoded value. Throws `Truncated` / `LengthOutOfBounds`
 * when lengths run past the bytes, and `MalformedPayload` for an unknown tag,
 * a non-canonical form (a float that should be an integer, unsorted or
 * duplicate object keys), a non-finite number or nesting past
 * `MAX_VALUE_DEPTH`. Byte strings are copied out of the decoder's buffer, so
 * the value does not pin it.
 */
export function decodeCanonicalValue(dec: Decoder): CrdtValue {
  return readValue(dec, 0);
}

function readValue(dec: Decoder, depth: number): CrdtValue {
  const at = dec.offset;
  const tag = dec.readU8();
  switch (tag) {
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.UInt:
      return dec.readVarUint();
    case Tag.NegInt:
      return -dec.readVarUint() - 1;
    case Tag.Float: {
      const value = dec.readF64();
      if (!Number.isFinite(value)) throw malformed(dec, `non-finite float ${value}`);
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
        throw malformed(dec, `float ${value} should have been encoded as an integer`);
      }
      return value;
    }
    case Tag.BigUInt:
      return dec.readVarBigUint(MAX_BIGINT_BYTES);
    case Tag.BigNegInt:
      return -dec.readVarBigUint(MAX_BIGINT_BYTES) - 1n;
    case Tag.String:
      return readUtf8(dec);
    case Tag.Bytes:
      // A copy: decoded state must not alias a message buffer the channel may reuse.
      return dec.readBytes().slice();
    case Tag.Array: {
      if (depth >= MAX_VALUE_DEPTH) throw malformed(dec, `value nests deeper than ${MAX_VALUE_DEPTH}`);
      const count = readCount(dec, 1, 'array');
      const items: CrdtValue[] = [];
      for (let i = 0; i < count; i++) items.push(readValue(dec, depth + 1));
      return items;
    }
    case Tag.Object: {
      if (depth >= MAX_VALUE_DEPTH) throw malformed(dec, `value nests deeper than ${MAX_VALUE_DEPTH}`);
      const count = readCount(dec, 2, 'object');
      const entries: [string, CrdtValue][] = [];
      let previous: string | undefined;
      for (let i = 0; i < count; i++) {
        const name = readUtf8(dec);
        if (previous !== undefined && compareStrings(previous, name) >= 0) {
          throw malformed(dec, `object keys are not strictly increasing (${JSON.stringify(previous)}, ${JSON.stringify(name)})`);
        }
        previous = name;
        entries.push([name, readValue(dec, depth + 1)]);
      }
      // fromEntries defines own properties, so a key "__proto__" stays data.
      return Object.fromEntries(entries);
    }
    default:
      throw new TidalError('MalformedPayload', `unknown value tag ${tag} at offset ${at}`, { details: { offset: at } });
  }
}

/**
 * Reads a count of items that take at least `minItemBytes` each, refusing
 * one that could not fit in what remains (so a peer cannot make us loop or
 * allocate for items that are not there).
 */
export function readCount(dec: Decoder, minItemBytes: number, what: string): number {
  const at = dec.offset;
  const count = dec.readVarUint();
  if (count * minItemBytes > dec.remaining) {
    throw new TidalError('LengthOutOfBounds', `${what} at offset ${at} claims ${count} items, but only ${dec.remaining} bytes remain`, {
      details: { offset: at, count },
    });
  }
  return count;
}

/** Makes a private copy of a value (through its canonical bytes), so later changes to the caller's object cannot reach a state. Primitives are returned as is. */
export function ownedValue(value: CrdtValue, bytes: Uint8Array): CrdtValue {
  if (value === null || typeof value !== 'object') return value;
  return decodeCanonicalValue(new Decoder(bytes));
}

/** A string usable as a `Map` key that is equal for equal byte strings. */
export function bytesKey(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}
