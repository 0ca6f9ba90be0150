/**
 * The value codec's tag table, writer and reader (docs/PAYLOAD.md §2): one
 * walk that writes either form (exact, or canonical with `canonical: true`)
 * and one bounded reader of untrusted bytes. value.ts is its front: it
 * names the forms, the standalone byte helpers and equality.
 */
import { type Decoder, type Encoder } from './bytes.js';
import { TidalError } from './errors.js';
import { MAX_BIGINT_BITS, readLength, type Value } from './value-bounds.js';
import { compareCodePoints } from './value-order.js';
import { describeLoneSurrogate, isWellFormedString, readUtf8, writeUtf8 } from './utf8.js';

/** @internal The tags (value-skip.ts reads them too). */
export const TAG_NULL = 0x00;
export const TAG_FALSE = 0x01;
export const TAG_TRUE = 0x02;
export const TAG_UINT = 0x03;
export const TAG_NEGINT = 0x04;
export const TAG_F64 = 0x05;
export const TAG_BIGINT = 0x06;
export const TAG_NEGBIGINT = 0x07;
export const TAG_STRING = 0x08;
export const TAG_BYTES = 0x09;
export const TAG_ARRAY = 0x0a;
export const TAG_OBJECT = 0x0b;
/** Tags 0x80..0xFF are the integers 0..127, held in the tag itself. */
export const TAG_SMALL_INT = 0x80;

const BIGINT_LIMIT = 1n << BigInt(MAX_BIGINT_BITS);
const MAX_BIGINT_BYTES = Math.ceil(MAX_BIGINT_BITS / 7);

/** The one NaN the codec writes (the quiet NaN JavaScript engines produce); any NaN bits decode to `NaN`. */
const CANONICAL_NAN = new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);

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
export function writeValue(encoder: Encoder, value: Value, depth: number, maxDepth: number, canonical: boolean): void {
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
