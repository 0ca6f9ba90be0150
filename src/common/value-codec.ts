/**
 * The value codec's writer (docs/PAYLOAD.md §2): one walk that writes either
 * form (exact, or canonical with `canonical: true`). Its tags are in
 * value-tags.ts, its bounded reader of untrusted bytes in value-read.ts.
 * value.ts is their front: it names the forms, the standalone byte helpers
 * and equality.
 */
import { type Encoder } from './bytes.js';
import { TidalError } from './errors.js';
import { MAX_BIGINT_BITS, type Value } from './value-bounds.js';
import { compareCodePoints } from './value-order.js';
import { describeLoneSurrogate, isWellFormedString, writeUtf8 } from './utf8.js';
import {
  BIGINT_LIMIT,
  CANONICAL_NAN,
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
