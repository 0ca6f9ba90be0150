/**
 * The value codec's bounded reader of untrusted bytes (docs/PAYLOAD.md §2,
 * §3.2): every failure a `TidalError`, nesting bounded, and in a strict form
 * only the bytes the writer (value-codec.ts) writes.
 */
import { type Decoder } from './bytes.js';
import { TidalError } from './errors.js';
import { MAX_BIGINT_BITS, readLength, type Value } from './value-bounds.js';
import { readUtf8 } from './utf8.js';
import {
  BIGINT_LIMIT,
  CANONICAL_NAN,
  MAX_BIGINT_BYTES,
  TAG_ARRAY,
  TAG_BIGINT,
  TAG_BYTES,
  TAG_F64,
  TAG_FALSE,
  TAG_NEGBIGINT,
  TAG_NEGINT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_SMALL_INT,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
} from './value-tags.js';

/**
 * Which forms a reader takes: `ANY_FORM` every well-formed one (the WAL's
 * lenient reader), `EXACT_FORM` or `CANONICAL_FORM` only the bytes the
 * encoder writes in that form (the CRDT state's strict readers).
 */
export type ReadForm = typeof ANY_FORM | typeof EXACT_FORM | typeof CANONICAL_FORM;
/** @internal */
export const ANY_FORM = 0;
/** @internal */
export const EXACT_FORM = 1;
/** @internal */
export const CANONICAL_FORM = 2;

/**
 * Reads one value that sits inside `depth` containers. A strict `form`
 * checks, as it reads, every rule of docs/PAYLOAD.md §3.2 that the bytes
 * could break: each LEB128 minimal, each integer in its shortest tag, an
 * f64 only for a number the integer tags cannot hold (`-0` too, in the
 * exact form), NaN as the quiet NaN, object keys in the order the encoder
 * writes them (code point order, or the decoded object's own key order).
 * Strings need no check: fatal UTF-8 decoding takes only the one encoding
 * a string has. So a value is taken exactly when writing it back in that
 * form gives the same bytes, without writing it back.
 */
export function readValue(decoder: Decoder, depth: number, maxDepth: number, form: ReadForm = ANY_FORM): Value {
  const at = decoder.offset;
  const tag = decoder.readU8();
  if (tag >= TAG_SMALL_INT) return tag - TAG_SMALL_INT;
  switch (tag) {
    case TAG_NULL:
      return null;
    case TAG_FALSE:
      return false;
    case TAG_TRUE:
      return true;
    case TAG_UINT: {
      const value = decoder.readVarUint();
      if (form !== ANY_FORM && (value < 0x80 || !minimalEnd(decoder, at + 1))) throw notInForm(at, form);
      return value;
    }
    case TAG_NEGINT: {
      const magnitude = decoder.readVarUint();
      // -2^53 is not a safe integer: the encoder writes it as an f64.
      if (form !== ANY_FORM && (magnitude === Number.MAX_SAFE_INTEGER || !minimalEnd(decoder, at + 1))) throw notInForm(at, form);
      return -magnitude - 1;
    }
    case TAG_F64: {
      const value = decoder.readF64();
      if (form !== ANY_FORM && !isF64Form(decoder, value, form)) throw notInForm(at, form);
      return value;
    }
    case TAG_BIGINT:
      return readBigMagnitude(decoder, form);
    case TAG_NEGBIGINT:
      return -readBigMagnitude(decoder, form) - 1n;
    case TAG_STRING:
      if (form !== ANY_FORM) minimalLengthPrefix(decoder, form);
      return readUtf8(decoder);
    case TAG_BYTES: {
      const length = readFormLength(decoder, 1, 'byte string', 'bytes', form);
      // A copy: callers may keep values after the buffer is reused.
      return decoder.readRaw(length).slice();
    }
    case TAG_ARRAY: {
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      const count = readFormLength(decoder, 1, 'array', 'elements', form);
      const array: Value[] = [];
      for (let index = 0; index < count; index++) array.push(readValue(decoder, depth + 1, maxDepth, form));
      return array;
    }
    case TAG_OBJECT:
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      return readObject(decoder, depth, maxDepth, form);
    default:
      throw new TidalError('MalformedPayload', `unknown value tag 0x${tag.toString(16).padStart(2, '0')} at offset ${at}`, {
        details: { offset: at, tag },
      });
  }
}

function readObject(decoder: Decoder, depth: number, maxDepth: number, form: ReadForm): { [key: string]: Value } {
  const at = decoder.offset - 1;
  const count = readFormLength(decoder, 2, 'object', 'entries (2 bytes or more each)', form);
  const object: { [key: string]: Value } = {};
  // The exact form: the keys as read, and whether one is integer-like (the only keys an object does not keep in insertion order).
  const order: string[] | undefined = form === EXACT_FORM ? [] : undefined;
  let integerLike = false;
  let previousStart = 0;
  let previousEnd = 0;
  for (let index = 0; index < count; index++) {
    const keyAt = decoder.offset;
    const bodyAt = form === ANY_FORM ? 0 : minimalLengthPrefix(decoder, form);
    const key = readUtf8(decoder);
    if (form === CANONICAL_FORM) {
      // Code point order is the byte order of UTF-8: compare the keys' bytes where they lie.
      if (index > 0 && compareRanges(decoder.bytes, previousStart, previousEnd, bodyAt, decoder.offset) >= 0) throw notInForm(at, form);
      previousStart = bodyAt;
      previousEnd = decoder.offset;
    } else if (order) {
      order.push(key);
      const first = key.charCodeAt(0);
      if (first >= 0x30 && first <= 0x39) integerLike = true;
    }
    if (Object.hasOwn(object, key)) {
      throw new TidalError('MalformedPayload', `object key ${JSON.stringify(key)} at offset ${keyAt} appears twice`, {
        details: { offset: keyAt },
      });
    }
    const value = readValue(decoder, depth + 1, maxDepth, form);
    if (key === '__proto__') {
      // Assignment would set the prototype; the key is data.
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      object[key] = value;
    }
  }
  // The exact form writes Object.keys order, which puts integer-like keys first: the bytes must have had them there.
  if (order && integerLike) {
    const keys = Object.keys(object);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== order[i]) throw notInForm(at, form);
  }
  return object;
}

function compareRanges(bytes: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const n = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const d = bytes[aStart + i]! - bytes[bStart + i]!;
    if (d !== 0) return d;
  }
  return aEnd - aStart - (bEnd - bStart);
}

/** True when an f64 holding `value` (its 8 bytes just read) is how the encoder writes that number in `form`. */
function isF64Form(decoder: Decoder, value: number, form: ReadForm): boolean {
  // A safe integer has an integer tag; only -0, in the exact form, is written as an f64.
  if (Number.isSafeInteger(value)) return form === EXACT_FORM && value === 0 && 1 / value < 0;
  if (value !== value) {
    const bytes = decoder.bytes;
    const start = decoder.offset - 8;
    for (let i = 0; i < 8; i++) if (bytes[start + i] !== CANONICAL_NAN[i]) return false;
  }
  return true;
}

/** True when the LEB128 that started at `start` and was just read is the shortest one (no final 0x00 after a continuation). */
function minimalEnd(decoder: Decoder, start: number): boolean {
  return decoder.offset - start === 1 || decoder.bytes[decoder.offset - 1] !== 0;
}

/** Checks that the length prefix of the string body at the decoder's position is minimal; returns where the body starts, leaving the decoder where it was. */
function minimalLengthPrefix(decoder: Decoder, form: ReadForm): number {
  const at = decoder.offset;
  decoder.readVarUint();
  const bodyAt = decoder.offset;
  decoder.offset = at;
  if (bodyAt - at > 1 && decoder.bytes[bodyAt - 1] === 0) throw notInForm(at, form);
  return bodyAt;
}

function readFormLength(decoder: Decoder, minItemBytes: number, what: string, unit: string, form: ReadForm): number {
  const at = decoder.offset;
  const length = readLength(decoder, minItemBytes, what, unit);
  if (form !== ANY_FORM && !minimalEnd(decoder, at)) throw notInForm(at, form);
  return length;
}

function notInForm(at: number, form: ReadForm): TidalError {
  return new TidalError('MalformedPayload', `value at offset ${at} is not in the ${form === CANONICAL_FORM ? 'canonical' : 'exact'} form`, {
    details: { offset: at },
  });
}

function tooDeep(at: number, maxDepth: number): TidalError {
  return new TidalError('MalformedPayload', `container at offset ${at} is nested deeper than ${maxDepth}`, {
    details: { offset: at },
  });
}

function readBigMagnitude(decoder: Decoder, form: ReadForm): bigint {
  const at = decoder.offset;
  const magnitude = decoder.readVarBigUint(MAX_BIGINT_BYTES);
  if (magnitude >= BIGINT_LIMIT) {
    throw new TidalError('LengthOutOfBounds', `bigint at offset ${at} has more than ${MAX_BIGINT_BITS} bits`, {
      details: { offset: at },
    });
  }
  if (form !== ANY_FORM && !minimalEnd(decoder, at)) throw notInForm(at - 1, form);
  return magnitude;
}
