/**
 * The event payload encoding (docs/PAYLOAD.md): how the events of one WAL
 * batch become bytes. A payload is a version byte, then the events back to
 * back, each a tagged value (null, booleans, numbers, bigints, strings,
 * bytes, arrays, plain objects). The event count is not in the payload; it
 * comes from the batch header and is passed to `decodePayload`.
 *
 *     const payload = encodePayload([{ op: 'inc', key: 'a', by: 2 }, 'ping']);
 *     decodePayload(payload, 2); // [{ op: 'inc', key: 'a', by: 2 }, 'ping']
 *
 * Encoding sits on the append hot path, so the happy path allocates
 * nothing per value but the key lists of objects: short ASCII strings are
 * written byte by byte, the path of a refused part is rebuilt only while a
 * failure unwinds, and one scratch encoder is reused between batches. Decoding reads untrusted bytes (a file, a peer): every
 * length is bounded by the bytes remaining, nesting by `MAX_PAYLOAD_DEPTH`,
 * and every failure is a `TidalError`.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';

/** Every value an event can hold, and so every value the payload encoding round-trips. */
export type Value = null | boolean | number | bigint | string | Uint8Array | Value[] | { [key: string]: Value };

/** The payload encoding's version, written as the first byte of every payload. */
export const PAYLOAD_VERSION = 1;

/** How deep arrays and objects may nest: an event that is a container is at depth 1. */
export const MAX_PAYLOAD_DEPTH = 64;

/** Bigints are stored as magnitude (n, or -n-1 when negative) below 2^MAX_BIGINT_BITS. */
export const MAX_BIGINT_BITS = 8192;

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

/** Scratch encoders larger than this are not kept between batches. */
const MAX_RETAINED_SCRATCH = 1 << 20;

// A fatal decoder that keeps a leading U+FEFF (the default strips it, which
// would turn "\uFEFFa" into "a").
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
/** True when `text` has no lone surrogate, i.e. it has an exact UTF-8 form. */
const isWellFormed: (text: string) => boolean =
  typeof nativeIsWellFormed === 'function' ? (text) => nativeIsWellFormed.call(text) : (text) => !LONE_SURROGATE.test(text);

/**
 * A refusal on its way up from the part that caused it. Each container it
 * passes through adds its own step, so the path costs nothing unless
 * something is refused.
 */
class EncodeFailure {
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

/**
 * Encodes a batch's events as a payload: the version byte, then each event.
 * Throws `TidalError('Unencodable')` naming the refused part's path (e.g.
 * `events[3].tags[2]`) for what docs/PAYLOAD.md §3 lists; nothing is
 * returned then.
 */
export function encodePayload(events: readonly Value[]): Uint8Array {
  if (!Array.isArray(events)) {
    throw new TidalError('InvalidArgument', `events must be an array, got ${describeType(events)}`);
  }
  // Taken out of the slot while in use, so a re-entrant call (a getter that
  // encodes) gets its own encoder.
  const encoder = scratchEncoder ?? new Encoder(4096);
  scratchEncoder = null;
  // `length` is the encoder's write position; rewinding it reuses the buffer.
  encoder.length = 0;
  try {
    encoder.writeU8(PAYLOAD_VERSION);
    const count = events.length;
    let index = 0;
    try {
      for (; index < count; index++) {
        const event = events[index];
        if (event === undefined && !(index in events)) {
          throw new EncodeFailure('is a hole in a sparse array; pass a dense array of events');
        }
        writeValue(encoder, event as Value, 0);
      }
    } catch (error) {
      if (error instanceof EncodeFailure) {
        error.steps.push(index);
        error.containers.push(events);
        throw toTidalError(error, 'events');
      }
      throw error;
    }
    return encoder.toBytes();
  } finally {
    if (encoder.length <= MAX_RETAINED_SCRATCH) scratchEncoder = encoder;
  }
}

let scratchEncoder: Encoder | null = null;

/**
 * Appends one value to `encoder` (a building block for formats that embed
 * values). Throws `TidalError('Unencodable')` with the refused part's path
 * from `value`; the encoder then holds a partial value and must be
 * discarded.
 */
export function encodeValue(encoder: Encoder, value: Value): void {
  try {
    writeValue(encoder, value, 0);
  } catch (error) {
    if (error instanceof EncodeFailure) throw toTidalError(error, 'value');
    throw error;
  }
}

/**
 * Decodes a payload that holds exactly `expectedCount` events (the batch
 * header's count). Refuses, with a `TidalError`: an unknown version
 * (`UnsupportedVersion`), bytes that end early (`Truncated`), lengths past
 * the end or past a bound (`LengthOutOfBounds`), anything else malformed,
 * including bytes left after the last event (`MalformedPayload`).
 * Byte strings are decoded as copies, never views into `bytes`.
 */
export function decodePayload(bytes: Uint8Array, expectedCount: number): Value[] {
  if (!(bytes instanceof Uint8Array)) {
    throw new TidalError('InvalidArgument', `payload must be a Uint8Array, got ${describeType(bytes)}`);
  }
  if (!Number.isSafeInteger(expectedCount) || expectedCount < 0) {
    throw new TidalError('InvalidArgument', `expected event count must be a non-negative integer, got ${String(expectedCount)}`);
  }
  if (bytes.length === 0) {
    throw new TidalError('Truncated', 'payload is empty; it must start with its version byte');
  }
  const version = bytes[0]!;
  if (version !== PAYLOAD_VERSION) {
    throw new TidalError(
      'UnsupportedVersion',
      `payload version ${version} is not supported (this build reads version ${PAYLOAD_VERSION}); it was probably written by a newer tidal`,
      { details: { version } },
    );
  }
  const decoder = new Decoder(bytes);
  decoder.offset = 1;
  const events: Value[] = [];
  for (let index = 0; index < expectedCount; index++) {
    if (decoder.remaining === 0) {
      throw new TidalError('Truncated', `payload of ${bytes.length} bytes ends after ${index} of its ${expectedCount} events`, {
        details: { decoded: index, expectedCount },
      });
    }
    events.push(readValue(decoder, 0));
  }
  if (decoder.remaining !== 0) {
    throw new TidalError(
      'MalformedPayload',
      `payload has ${decoder.remaining} bytes left after its ${expectedCount} events (at offset ${decoder.offset}): more events than the header counts, or garbage`,
      { details: { offset: decoder.offset, trailing: decoder.remaining } },
    );
  }
  return events;
}

/**
 * Reads one value written by `encodeValue` (a building block). Refuses
 * malformed bytes as `decodePayload` does; byte strings are copies.
 */
export function decodeValue(decoder: Decoder): Value {
  return readValue(decoder, 0);
}

// ---------------------------------------------------------------- encoding

/** Writes `value`, which sits inside `depth` containers. */
function writeValue(encoder: Encoder, value: Value, depth: number): void {
  switch (typeof value) {
    case 'number':
      writeNumber(encoder, value);
      return;
    case 'string':
      writeText(encoder, value);
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
      writeObjectLike(encoder, value, depth);
      return;
    case 'undefined':
      throw new EncodeFailure('is undefined; use null, or leave the key out of its object');
    case 'function':
      throw new EncodeFailure('is a function; events hold data, not code');
    case 'symbol':
      throw new EncodeFailure(`is a symbol (${String(value)}); store a string instead`);
    default:
      throw new EncodeFailure(`is of type ${typeof value}, which the payload encoding does not hold`);
  }
}

function writeNumber(encoder: Encoder, value: number): void {
  if (Number.isSafeInteger(value) && !(value === 0 && 1 / value < 0)) {
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
  encoder.writeF64(value);
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

function writeText(encoder: Encoder, text: string): void {
  if (!isWellFormed(text)) throw new EncodeFailure(loneSurrogateProblem('is a string', text));
  encoder.writeU8(TAG_STRING);
  writeStringBody(encoder, text);
}

/**
 * Writes a string's byte length and UTF-8. Short ASCII strings (most keys
 * and values of an event) are written byte by byte: far cheaper than a call
 * into `TextEncoder` per string. `text` must be well-formed.
 */
function writeStringBody(encoder: Encoder, text: string): void {
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

function loneSurrogateProblem(what: string, text: string): string {
  const at = LONE_SURROGATE.exec(text)?.index ?? -1;
  return (
    `${what} with a lone surrogate at index ${at} (${JSON.stringify(text.slice(Math.max(0, at - 8), at + 8))}), ` +
    'which has no UTF-8 form; call text.toWellFormed() to replace it with U+FFFD, or store the code units as numbers'
  );
}

function writeObjectLike(encoder: Encoder, value: object, depth: number): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    if (depth >= MAX_PAYLOAD_DEPTH) throw nestingFailure(value, depth);
    writeObject(encoder, value as { [key: string]: Value }, depth);
  } else if (proto === Array.prototype && Array.isArray(value)) {
    if (depth >= MAX_PAYLOAD_DEPTH) throw nestingFailure(value, depth);
    writeArray(encoder, value as Value[], depth);
  } else if (value instanceof Uint8Array) {
    encoder.writeU8(TAG_BYTES);
    encoder.writeBytes(value);
  } else {
    throw new EncodeFailure(describeNonPlain(value));
  }
}

function nestingFailure(container: object, depth: number): EncodeFailure {
  return new EncodeFailure(
    `is nested ${depth + 1} deep; arrays and objects nest at most ${MAX_PAYLOAD_DEPTH} deep, flatten the value`,
    container,
  );
}

function writeArray(encoder: Encoder, array: Value[], depth: number): void {
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
      writeValue(encoder, item as Value, depth + 1);
    }
  } catch (error) {
    if (error instanceof EncodeFailure) {
      error.steps.push(index);
      error.containers.push(array);
    }
    throw error;
  }
}

function writeObject(encoder: Encoder, object: { [key: string]: Value }, depth: number): void {
  const keys = Object.keys(object);
  const symbols = Object.getOwnPropertySymbols(object);
  for (const symbol of symbols) {
    if (Object.prototype.propertyIsEnumerable.call(object, symbol)) {
      throw new EncodeFailure(`has a symbol key (${String(symbol)}); only string keys are stored, use a string key`);
    }
  }
  const count = keys.length;
  encoder.writeU8(TAG_OBJECT);
  encoder.writeVarUint(count);
  let key = '';
  try {
    for (let index = 0; index < count; index++) {
      key = keys[index]!;
      if (!isWellFormed(key)) throw new EncodeFailure(loneSurrogateProblem('has a key that is a string', key));
      writeStringBody(encoder, key);
      writeValue(encoder, object[key]!, depth + 1);
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

/** Turns a failure that reached the top into the error callers see, with its path from `root`. */
function toTidalError(failure: EncodeFailure, root: string): TidalError {
  const steps = failure.steps.slice().reverse();
  const pathTo = (length: number): string => root + steps.slice(0, length).map(formatStep).join('');
  if (failure.tooDeep !== null) {
    // A cycle always ends up too deep; look for a container that is its own
    // ancestor, to say "cycle" rather than "too deep".
    // chain[m] sits at pathTo(m): chain[0] is the root container (the
    // events array, or the value given to encodeValue).
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

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatStep(step: string | number): string {
  if (typeof step === 'number') return `[${step}]`;
  return IDENTIFIER.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const ctor: unknown = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : 'object';
}

// ---------------------------------------------------------------- decoding

/** Reads one value that sits inside `depth` containers. */
function readValue(decoder: Decoder, depth: number): Value {
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
      return readText(decoder);
    case TAG_BYTES: {
      const length = readLength(decoder, 1, 'byte string', 'bytes');
      // A copy: callers may keep values after the payload buffer is reused.
      return decoder.readRaw(length).slice();
    }
    case TAG_ARRAY: {
      if (depth >= MAX_PAYLOAD_DEPTH) throw tooDeep(at);
      const count = readLength(decoder, 1, 'array', 'elements');
      const array: Value[] = [];
      for (let index = 0; index < count; index++) array.push(readValue(decoder, depth + 1));
      return array;
    }
    case TAG_OBJECT: {
      if (depth >= MAX_PAYLOAD_DEPTH) throw tooDeep(at);
      const count = readLength(decoder, 2, 'object', 'entries (2 bytes or more each)');
      const object: { [key: string]: Value } = {};
      for (let index = 0; index < count; index++) {
        const keyAt = decoder.offset;
        const key = readText(decoder);
        if (Object.hasOwn(object, key)) {
          throw new TidalError('MalformedPayload', `object key ${JSON.stringify(key)} at offset ${keyAt} appears twice`, {
            details: { offset: keyAt },
          });
        }
        const value = readValue(decoder, depth + 1);
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

function tooDeep(at: number): TidalError {
  return new TidalError('MalformedPayload', `container at offset ${at} is nested deeper than ${MAX_PAYLOAD_DEPTH}`, {
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

/** Short ASCII strings are built in JS, straight from the buffer: cheaper than a view and a call into TextDecoder. */
const ASCII_FAST_PATH_MAX = 32;

function readText(decoder: Decoder): string {
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
