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
 */
import { Decoder, Encoder } from './bytes.js';
import { TidalError } from './errors.js';

/** Every value tidal stores: what an event, a register or a set member can hold. */
export type Value = null | boolean | number | bigint | string | Uint8Array | Value[] | { [key: string]: Value };

/** A `Value` as CRDT state holds and hands it out: the same values, read-only. */
export type CrdtValue =
  null | boolean | number | bigint | string | Uint8Array | readonly CrdtValue[] | { readonly [name: string]: CrdtValue };

/** How deep arrays and objects may nest in a WAL event: an event that is a container is at depth 1. */
export const MAX_EVENT_DEPTH = 64;

/**
 * How deep a stored value (a register's value, a set member) may nest: a
 * value travels inside a write event, whose own structure (the event, its
 * `ops` array, the operation) takes 3 of the event's 64 levels.
 */
export const MAX_VALUE_DEPTH = MAX_EVENT_DEPTH - 3;

/** Bigints are stored as magnitude (n, or -n-1 when negative) below 2^MAX_BIGINT_BITS. */
export const MAX_BIGINT_BITS = 8192;

/** Largest exact-form encoding of one stored value, in bytes (1 MiB): it must fit a WAL batch and a shipped payload with room to spare. */
export const MAX_VALUE_BYTES = 1 << 20;

const TAG_NULL = 0x00;
const TAG_FALSE = 0x01;
const TAG_TRUE = 0x02;
const TAG_UINT = 0x03;
const TAG_NEGINT = 0x04;
const TAG_F64 = 0x05;
const TAG_BIGINT = 0x06;
const TAG_NEGBIGINT = 0x07;
const TAG_STRING = 0x08;
const TAG_BYTES = 0x09;
const TAG_ARRAY = 0x0a;
const TAG_OBJECT = 0x0b;
/** Tags 0x80..0xFF are the integers 0..127, held in the tag itself. */
const TAG_SMALL_INT = 0x80;

const BIGINT_LIMIT = 1n << BigInt(MAX_BIGINT_BITS);
const MAX_BIGINT_BYTES = Math.ceil(MAX_BIGINT_BITS / 7);

/** The one NaN the codec writes (the quiet NaN JavaScript engines produce); any NaN bits decode to `NaN`. */
const CANONICAL_NAN = new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);

// A fatal decoder that keeps a leading U+FEFF (the default strips it, which
// would turn "\uFEFFa" into "a").
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

/** True when `text` has no lone surrogate, i.e. it has an exact UTF-8 form. */
export const isWellFormedString: (text: string) => boolean =
  typeof nativeIsWellFormed === 'function' ? (text) => nativeIsWellFormed.call(text) : (text) => !LONE_SURROGATE.test(text);

/** Says where the first lone surrogate of `text` is, for an error message. */
export function describeLoneSurrogate(text: string): string {
  const at = LONE_SURROGATE.exec(text)?.index ?? -1;
  return (
    `a lone surrogate at index ${at} (${JSON.stringify(text.slice(Math.max(0, at - 8), at + 8))}), ` +
    'which has no UTF-8 form; call text.toWellFormed() to replace it with U+FFFD, or store the code units as numbers'
  );
}

// ---------------------------------------------------------------- orders

/**
 * Orders strings by Unicode code point, which is also the byte order of
 * their UTF-8: the order of object keys in the canonical form. (JavaScript's
 * `<` orders UTF-16 code units instead, which puts U+10000.. before U+E000..U+FFFF.)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800..0xDFFF) stand for code points above 0xFFFF: move them past 0xE000..0xFFFF.
    return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/** Orders strings by UTF-16 code units (JavaScript's `<`): the order of entity keys and names in the CRDT state (docs/CRDT.md). */
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

/** True when both byte strings hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A string usable as a `Map` key that is equal for equal byte strings. */
export function bytesKey(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

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
  return readChecked(decoder, false);
}

/**
 * Reads one value in the canonical form, and its bytes, refusing
 * (`MalformedPayload`) any other form of it (keys out of order, `-0`, a
 * longer form of a number, another NaN). The bytes are a copy.
 */
export function decodeCanonicalValue(decoder: Decoder): { value: CrdtValue; bytes: Uint8Array } {
  return readChecked(decoder, true);
}

function readChecked(decoder: Decoder, canonical: boolean): { value: Value; bytes: Uint8Array } {
  const start = decoder.offset;
  const value = readValue(decoder, 0, MAX_VALUE_DEPTH);
  const bytes = decoder.bytes.slice(start, decoder.offset);
  // The form is what the encoder writes iff writing the decoded value gives the same bytes.
  const again = canonical ? canonicalValueBytes(value) : exactValueBytes(value);
  if (!sameBytes(again, bytes)) {
    throw new TidalError('MalformedPayload', `value at offset ${start} is not in the ${canonical ? 'canonical' : 'exact'} form`, {
      details: { offset: start },
    });
  }
  return { value, bytes };
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

// ---------------------------------------------------------------- strings

/**
 * Writes a string body: `VarUint` UTF-8 byte length, then the bytes (as
 * `Encoder.writeString` does). Short ASCII strings (most keys and names)
 * are written byte by byte: far cheaper than a call into `TextEncoder` per
 * string. `text` must be well-formed (see `isWellFormedString`).
 */
export function writeUtf8(encoder: Encoder, text: string): void {
  const length = text.length;
  if (length < 0x80) {
    const start = encoder.length;
    encoder.writeU8(length);
    let index = 0;
    for (; index < length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) break;
      encoder.writeU8(code);
    }
    if (index === length) return;
    // Not ASCII: rewind the write position and let TextEncoder do it.
    encoder.length = start;
  }
  encoder.writeString(text);
}

/** Short ASCII strings are built in JS, straight from the buffer: cheaper than a view and a call into TextDecoder. */
const ASCII_FAST_PATH_MAX = 32;

/** Reads a string body written by `writeUtf8`, keeping a leading U+FEFF. Throws `MalformedPayload` for bytes that are not well-formed UTF-8. */
export function readUtf8(decoder: Decoder): string {
  const at = decoder.offset;
  const length = readLength(decoder, 1, 'string', 'bytes');
  if (length <= ASCII_FAST_PATH_MAX) {
    const bytes = decoder.bytes;
    const start = decoder.offset;
    const end = start + length; // within bounds: readLength checked it
    let text = '';
    let index = start;
    for (; index < end; index++) {
      const byte = bytes[index]!;
      if (byte >= 0x80) break;
      text += String.fromCharCode(byte);
    }
    if (index === end) {
      decoder.offset = end;
      return text;
    }
  }
  const bytes = decoder.readRaw(length);
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new TidalError('MalformedPayload', `string at offset ${at} is not well-formed UTF-8`, {
      cause,
      details: { offset: at },
    });
  }
}

// ---------------------------------------------------------------- encoding

/**
 * A refusal on its way up from the part that caused it. Each container it
 * passes through adds its own step, so the path costs nothing unless
 * something is refused.
 */
/** @internal */
export class EncodeFailure {
  /** Path steps, innermost first. */
  readonly steps: (string | number)[] = [];
  /** The containers the failure passed through, innermost first. */
  readonly containers: object[] = [];
  readonly problem: string;
  /** For a nesting failure: the container that was one level too deep. */
  readonly tooDeep: object | null;
  constructor(problem: string, tooDeep: object | null = null) {
    this.problem = problem;
    this.tooDeep = tooDeep;
  }
}

/** Writes `value`, which sits inside `depth` containers. */
function writeValue(encoder: Encoder, value: Value, depth: number, maxDepth: number, canonical: boolean): void {
  switch (typeof value) {
    case 'number':
      writeNumber(encoder, value, canonical);
      return;
    case 'string':
      if (!isWellFormedString(value)) throw new EncodeFailure(`is a string with ${describeLoneSurrogate(value)}`);
      encoder.writeU8(TAG_STRING);
      writeUtf8(encoder, value);
      return;
    case 'boolean':
      encoder.writeU8(value ? TAG_TRUE : TAG_FALSE);
      return;
    case 'bigint':
      writeBigInt(encoder, value);
      return;
    case 'object':
      if (value === null) {
        encoder.writeU8(TAG_NULL);
        return;
      }
      writeObjectLike(encoder, value, depth, maxDepth, canonical);
      return;
    case 'undefined':
      throw new EncodeFailure('is undefined; use null, or leave the key out of its object');
    case 'function':
      throw new EncodeFailure('is a function; values hold data, not code');
    case 'symbol':
      throw new EncodeFailure(`is a symbol (${String(value)}); store a string instead`);
    default:
      throw new EncodeFailure(`is of type ${typeof value}, which the value codec does not hold`);
  }
}

function writeNumber(encoder: Encoder, value: number, canonical: boolean): void {
  // -0 is a safe integer too: it is written as 0 in the canonical form, as an f64 in the exact form.
  if (Number.isSafeInteger(value) && (canonical || value !== 0 || 1 / value > 0)) {
    if (value >= 0) {
      if (value < 0x80) {
        encoder.writeU8(TAG_SMALL_INT | value);
      } else {
        encoder.writeU8(TAG_UINT);
        encoder.writeVarUint(value);
      }
    } else {
      encoder.writeU8(TAG_NEGINT);
      encoder.writeVarUint(-value - 1);
    }
    return;
  }
  encoder.writeU8(TAG_F64);
  if (value !== value) encoder.writeRaw(CANONICAL_NAN);
  else encoder.writeF64(value);
}

function writeBigInt(encoder: Encoder, value: bigint): void {
  const negative = value < 0n;
  const magnitude = negative ? -value - 1n : value;
  if (magnitude >= BIGINT_LIMIT) {
    throw new EncodeFailure(`is a bigint of more than ${MAX_BIGINT_BITS} bits; store it as a decimal string or as bytes`);
  }
  encoder.writeU8(negative ? TAG_NEGBIGINT : TAG_BIGINT);
  encoder.writeVarBigUint(magnitude);
}

function writeObjectLike(encoder: Encoder, value: object, depth: number, maxDepth: number, canonical: boolean): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    if (depth >= maxDepth) throw nestingFailure(value, depth, maxDepth);
    writeObject(encoder, value as { [key: string]: Value }, depth, maxDepth, canonical);
  } else if (proto === Array.prototype && Array.isArray(value)) {
    if (depth >= maxDepth) throw nestingFailure(value, depth, maxDepth);
    writeArray(encoder, value as Value[], depth, maxDepth, canonical);
  } else if (value instanceof Uint8Array) {
    encoder.writeU8(TAG_BYTES);
    encoder.writeBytes(value);
  } else {
    throw new EncodeFailure(describeNonPlain(value));
  }
}

function nestingFailure(container: object, depth: number, maxDepth: number): EncodeFailure {
  return new EncodeFailure(
    `is nested ${depth + 1} deep; arrays and objects nest at most ${maxDepth} deep here, flatten the value`,
    container,
  );
}

function writeArray(encoder: Encoder, array: Value[], depth: number, maxDepth: number, canonical: boolean): void {
  const count = array.length;
  encoder.writeU8(TAG_ARRAY);
  encoder.writeVarUint(count);
  let index = 0;
  try {
    for (; index < count; index++) {
      const item = array[index];
      if (item === undefined && !(index in array)) {
        throw new EncodeFailure('is a hole in a sparse array; fill it (with null, for example)');
      }
      writeValue(encoder, item as Value, depth + 1, maxDepth, canonical);
    }
  } catch (error) {
    if (error instanceof EncodeFailure) {
      error.steps.push(index);
      error.containers.push(array);
    }
    throw error;
  }
}

function writeObject(encoder: Encoder, object: { [key: string]: Value }, depth: number, maxDepth: number, canonical: boolean): void {
  const keys = Object.keys(object);
  const symbols = Object.getOwnPropertySymbols(object);
  for (const symbol of symbols) {
    if (Object.prototype.propertyIsEnumerable.call(object, symbol)) {
      throw new EncodeFailure(`has a symbol key (${String(symbol)}); only string keys are stored, use a string key`);
    }
  }
  if (canonical && keys.length > 1) keys.sort(compareCodePoints);
  const count = keys.length;
  encoder.writeU8(TAG_OBJECT);
  encoder.writeVarUint(count);
  let key = '';
  try {
    for (let index = 0; index < count; index++) {
      key = keys[index]!;
      if (!isWellFormedString(key)) throw new EncodeFailure(`has a key that is a string with ${describeLoneSurrogate(key)}`);
      writeUtf8(encoder, key);
      writeValue(encoder, object[key]!, depth + 1, maxDepth, canonical);
    }
  } catch (error) {
    if (error instanceof EncodeFailure) {
      error.steps.push(key);
      error.containers.push(object);
    }
    throw error;
  }
}

/** Says what a non-plain object is and what to store instead. */
function describeNonPlain(value: object): string {
  if (value instanceof Date) return 'is a Date; store date.getTime() (a number) or date.toISOString() (a string)';
  if (value instanceof Map) return 'is a Map; store Object.fromEntries(map) (an object) or [...map] (an array of [key, value] pairs)';
  if (value instanceof Set) return 'is a Set; store [...set] (an array)';
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)) {
    return `is an ${value.constructor.name}; store new Uint8Array(buffer) instead`;
  }
  if (ArrayBuffer.isView(value)) {
    return (
      `is a ${value.constructor.name}; only Uint8Array is stored as bytes: store ` +
      'new Uint8Array(x.buffer, x.byteOffset, x.byteLength) for its bytes, or Array.from(x) for its numbers'
    );
  }
  if (
    value instanceof String ||
    value instanceof Number ||
    value instanceof Boolean ||
    value instanceof BigInt ||
    value instanceof Symbol
  ) {
    return `is a boxed ${typeof value.valueOf()} (an object wrapping a primitive); store the primitive, x.valueOf()`;
  }
  if (Array.isArray(value)) {
    return 'is an array whose prototype is not Array.prototype (a subclass, or from another realm); store Array.from(x)';
  }
  let name = 'an object';
  try {
    const ctor: unknown = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor;
    if (typeof ctor === 'function' && ctor.name) name = ctor.name;
  } catch {
    // A hostile prototype; the generic name will do.
  }
  return `is an instance of ${name}, not a plain object; copy its data into a plain object or array`;
}

/** @internal Turns a failure that reached the top into the error callers see, with its path from `root`. */
export function toTidalError(failure: EncodeFailure, root: string): TidalError {
  const steps = failure.steps.slice().reverse();
  const pathTo = (length: number): string => root + steps.slice(0, length).map(formatStep).join('');
  if (failure.tooDeep !== null) {
    // A cycle always ends up too deep; look for a container that is its own
    // ancestor, to say "cycle" rather than "too deep".
    // chain[m] sits at pathTo(m): chain[0] is the root container.
    const chain = failure.containers.slice().reverse();
    chain.push(failure.tooDeep);
    for (let later = 1; later < chain.length; later++) {
      const earlier = chain.indexOf(chain[later]!);
      if (earlier < later) {
        const laterPath = pathTo(later);
        const earlierPath = pathTo(earlier);
        return new TidalError(
          'Unencodable',
          `${laterPath} refers back to ${earlierPath}, a cycle; break the cycle (store an id instead of the object)`,
          { details: { path: laterPath, cycleTo: earlierPath } },
        );
      }
    }
  }
  const path = pathTo(steps.length);
  return new TidalError('Unencodable', `${path} ${failure.problem}`, { details: { path } });
}

/** @internal Writes a value inside a format that embeds values (the payload), leaving a refusal as an `EncodeFailure` for the caller to name with `toTidalError`. */
export function writeEmbeddedValue(encoder: Encoder, value: Value, maxDepth: number): void {
  writeValue(encoder, value, 0, maxDepth, false);
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatStep(step: string | number): string {
  if (typeof step === 'number') return `[${step}]`;
  return IDENTIFIER.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
}

// ---------------------------------------------------------------- decoding

/** Reads one value that sits inside `depth` containers. */
function readValue(decoder: Decoder, depth: number, maxDepth: number): Value {
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
    case TAG_UINT:
      return decoder.readVarUint();
    case TAG_NEGINT:
      return -decoder.readVarUint() - 1;
    case TAG_F64:
      return decoder.readF64();
    case TAG_BIGINT:
      return readBigMagnitude(decoder);
    case TAG_NEGBIGINT:
      return -readBigMagnitude(decoder) - 1n;
    case TAG_STRING:
      return readUtf8(decoder);
    case TAG_BYTES: {
      const length = readLength(decoder, 1, 'byte string', 'bytes');
      // A copy: callers may keep values after the buffer is reused.
      return decoder.readRaw(length).slice();
    }
    case TAG_ARRAY: {
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      const count = readLength(decoder, 1, 'array', 'elements');
      const array: Value[] = [];
      for (let index = 0; index < count; index++) array.push(readValue(decoder, depth + 1, maxDepth));
      return array;
    }
    case TAG_OBJECT: {
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      const count = readLength(decoder, 2, 'object', 'entries (2 bytes or more each)');
      const object: { [key: string]: Value } = {};
      for (let index = 0; index < count; index++) {
        const keyAt = decoder.offset;
        const key = readUtf8(decoder);
        if (Object.hasOwn(object, key)) {
          throw new TidalError('MalformedPayload', `object key ${JSON.stringify(key)} at offset ${keyAt} appears twice`, {
            details: { offset: keyAt },
          });
        }
        const value = readValue(decoder, depth + 1, maxDepth);
        if (key === '__proto__') {
          // Assignment would set the prototype; the key is data.
          Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
        } else {
          object[key] = value;
        }
      }
      return object;
    }
    default:
      throw new TidalError('MalformedPayload', `unknown value tag 0x${tag.toString(16).padStart(2, '0')} at offset ${at}`, {
        details: { offset: at, tag },
      });
  }
}

function tooDeep(at: number, maxDepth: number): TidalError {
  return new TidalError('MalformedPayload', `container at offset ${at} is nested deeper than ${maxDepth}`, {
    details: { offset: at },
  });
}

/** Reads a length or count whose items take at least `minItemBytes` each, bounded by the bytes remaining. */
function readLength(decoder: Decoder, minItemBytes: number, what: string, unit: string): number {
  const at = decoder.offset;
  const length = decoder.readVarUint();
  if (length * minItemBytes > decoder.remaining) {
    throw new TidalError(
      'LengthOutOfBounds',
      `${what} at offset ${at} claims ${length} ${unit}, but only ${decoder.remaining} bytes remain`,
      { details: { offset: at, length, remaining: decoder.remaining } },
    );
  }
  return length;
}

function readBigMagnitude(decoder: Decoder): bigint {
  const at = decoder.offset;
  const magnitude = decoder.readVarBigUint(MAX_BIGINT_BYTES);
  if (magnitude >= BIGINT_LIMIT) {
    throw new TidalError('LengthOutOfBounds', `bigint at offset ${at} has more than ${MAX_BIGINT_BITS} bits`, {
      details: { offset: at },
    });
  }
  return magnitude;
}
