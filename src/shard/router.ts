/**
 * `ShardRouter` says which shard owns a key. The key's UTF-8 bytes are
 * hashed with xxHash64 (seed 0, the reference algorithm, so any
 * implementation, any engine, any run gives the same 64 bits), and the hash
 * is placed on a shard with jump consistent hash (Lamping & Veach, "A Fast,
 * Minimal Memory, Consistent Hash Algorithm", 2014): shards are balanced,
 * and growing from n to n+1 shards moves only about 1/(n+1) of the keys,
 * all of them to the new shard.
 *
 *     const router = new ShardRouter({ shards: 16 });
 *     router.route('user:42'); // a ShardId in 0..15, the same everywhere
 *
 * Both algorithms need 64-bit multiplication modulo 2^64. `route` runs on
 * every write, so it does that on pairs of unsigned 32-bit halves
 * (`Math.imul` for low words, 16-bit limbs for the carries) instead of
 * BigInt, and encodes the key into a reused buffer. A string holding a lone
 * surrogate is hashed as `TextEncoder` encodes it (the surrogate becomes
 * U+FFFD), so such a key shares a shard with its well-formed twin.
 */
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import type { ShardId } from './shard-id.js';

/** Most shards a router spreads keys over (shard ids are u16). */
export const MAX_SHARDS = 65536;

/** Most keys a router remembers the shard of (then it forgets them all and starts again): at most a few MB. */
const MAX_REMEMBERED_KEYS = 16_384;
/** Longer keys are hashed every time (they are rare, and would make the remembered keys large). */
const MAX_REMEMBERED_KEY_LENGTH = 128;

/** Options of a `ShardRouter`. */
export interface ShardRouterOptions {
  /** How many shards keys are spread over: an integer 1..65536 (no default). */
  readonly shards: number;
}

/** Places keys on shards: xxHash64 of the key's UTF-8, then jump consistent hash. */
export class ShardRouter {
  /** How many shards keys are spread over. */
  readonly shards: number;
  /**
   * Keys routed lately and their shards. A write routes every operation's
   * key on the main thread, and hashing one (xxHash64 in 32-bit halves,
   * then the jump hash) costs about three times the map lookup: applications
   * write the same keys again and again.
   */
  private readonly routed = new Map<string, ShardId>();

  /** A router over `options.shards` shards; `InvalidArgument` outside 1..65536. */
  constructor(options: ShardRouterOptions) {
    this.shards = integerOption('shards', options?.shards, { min: 1, max: MAX_SHARDS });
  }

  /** The shard that owns `key`: the same for the same key and shard count, in every run and engine. */
  route(key: string): ShardId {
    const known = this.routed.get(key);
    if (known !== undefined) return known;
    if (typeof key !== 'string') {
      throw new TidalError('InvalidArgument', `a shard key must be a string, got ${key === null ? 'null' : typeof key}`);
    }
    const length = utf8Into(key);
    xxHash64Halves(keyBuffer, length);
    const shard = jumpHalves(result[HIGH], result[LOW], this.shards);
    if (key.length <= MAX_REMEMBERED_KEY_LENGTH) {
      if (this.routed.size >= MAX_REMEMBERED_KEYS) this.routed.clear();
      this.routed.set(key, shard);
    }
    return shard;
  }
}

/** xxHash64 (seed 0) of `key`'s UTF-8 bytes, the hash `ShardRouter` places keys by. */
export function hashKey(key: string): bigint {
  if (typeof key !== 'string') {
    throw new TidalError('InvalidArgument', `a shard key must be a string, got ${key === null ? 'null' : typeof key}`);
  }
  return xxHash64(keyBuffer.subarray(0, utf8Into(key)));
}

/** xxHash64 of `bytes` with seed 0, as an unsigned 64-bit bigint. */
export function xxHash64(bytes: Uint8Array): bigint {
  xxHash64Halves(bytes, bytes.length);
  return (BigInt(result[HIGH]) << 32n) | BigInt(result[LOW]);
}

/** Jump consistent hash: the bucket in 0..buckets-1 of a 64-bit `hash`, for 1..2^31-1 buckets. */
export function jumpConsistentHash(hash: bigint, buckets: number): number {
  if (typeof hash !== 'bigint' || hash < 0n || hash >= 1n << 64n) {
    throw new TidalError('InvalidArgument', `hash must be a u64 bigint, got ${String(hash)}`);
  }
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 0x7fffffff) {
    throw new TidalError('InvalidArgument', `buckets must be an integer in 1..2^31-1, got ${String(buckets)}`);
  }
  return jumpHalves(Number(hash >> 32n), Number(hash & 0xffffffffn), buckets);
}

// ------------------------------------------------------- UTF-8 of the key

let keyBuffer = new Uint8Array(256);
const textEncoder = new TextEncoder();

/** Writes `key`'s UTF-8 to `keyBuffer` and returns its length. */
function utf8Into(key: string): number {
  const length = key.length;
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (length * 3 > keyBuffer.length) keyBuffer = new Uint8Array(length * 3);
  for (let index = 0; index < length; index++) {
    const code = key.charCodeAt(index);
    if (code >= 0x80) return textEncoder.encodeInto(key, keyBuffer).written;
    keyBuffer[index] = code;
  }
  return length;
}

// ------------------------------------------------ 64-bit words as halves
//
// A u64 is (high, low), both unsigned 32-bit numbers. The helpers leave
// their result in `result` (a typed array: a u32 past 2^30 kept in a plain
// variable would be a heap number, allocated at every store), so the hot
// path allocates nothing.

const result = new Uint32Array(2);
const HIGH = 0;
const LOW = 1;

/** (aHigh:aLow) * (bHigh:bLow) mod 2^64. */
function multiply(aHigh: number, aLow: number, bHigh: number, bLow: number): void {
  // The low words' full 64-bit product, from 16-bit limbs: every partial
  // product fits 32 bits, so Math.imul gives it exactly, and the sums stay
  // integers far below 2^53 (no division, no remainder, no float rounding).
  const a0 = aLow & 0xffff;
  const a1 = aLow >>> 16;
  const b0 = bLow & 0xffff;
  const b1 = bLow >>> 16;
  const cross0 = Math.imul(a0, b1);
  const cross1 = Math.imul(a1, b0);
  const middle = (Math.imul(a0, b0) >>> 16) + (cross0 & 0xffff) + (cross1 & 0xffff);
  result[LOW] = Math.imul(aLow, bLow);
  // The high words' cross products only reach the high word, whose overflow is dropped.
  result[HIGH] =
    Math.imul(a1, b1) + (cross0 >>> 16) + (cross1 >>> 16) + (middle >>> 16) + Math.imul(aHigh, bLow) + Math.imul(aLow, bHigh);
}

/** (aHigh:aLow) + (bHigh:bLow) mod 2^64. */
function add(aHigh: number, aLow: number, bHigh: number, bLow: number): void {
  const low = aLow + bLow;
  result[LOW] = low >>> 0;
  result[HIGH] = (aHigh + bHigh + (low > 0xffffffff ? 1 : 0)) >>> 0;
}

/** Rotates (high:low) left by `bits`, 0 < bits < 32. */
function rotateLeft(high: number, low: number, bits: number): void {
  result[HIGH] = ((high << bits) | (low >>> (32 - bits))) >>> 0;
  result[LOW] = ((low << bits) | (high >>> (32 - bits))) >>> 0;
}

// --------------------------------------------------------------- xxHash64

const P1_HIGH = 0x9e3779b1;
const P1_LOW = 0x85ebca87;
const P2_HIGH = 0xc2b2ae3d;
const P2_LOW = 0x27d4eb4f;
const P3_HIGH = 0x165667b1;
const P3_LOW = 0x9e3779f9;
const P4_HIGH = 0x85ebca77;
const P4_LOW = 0xc2b2ae63;
const P5_HIGH = 0x27d4eb2f;
const P5_LOW = 0x165667c5;

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** xxHash64's round: rotl(acc + input * P2, 31) * P1. */
function round(accHigh: number, accLow: number, inputHigh: number, inputLow: number): void {
  multiply(inputHigh, inputLow, P2_HIGH, P2_LOW);
  add(accHigh, accLow, result[HIGH], result[LOW]);
  rotateLeft(result[HIGH], result[LOW], 31);
  multiply(result[HIGH], result[LOW], P1_HIGH, P1_LOW);
}

/** xxHash64's merge of an accumulator into the hash: (h ^ round(0, v)) * P1 + P4. */
function mergeRound(hashHigh: number, hashLow: number, accHigh: number, accLow: number): void {
  round(0, 0, accHigh, accLow);
  multiply((hashHigh ^ result[HIGH]) >>> 0, (hashLow ^ result[LOW]) >>> 0, P1_HIGH, P1_LOW);
  add(result[HIGH], result[LOW], P4_HIGH, P4_LOW);
}

/** xxHash64 (seed 0) of `bytes[0..length)`, left in `result[HIGH]`/`result[LOW]`. */
function xxHash64Halves(bytes: Uint8Array, length: number): void {
  let at = 0;
  let hHigh: number;
  let hLow: number;
  if (length >= 32) {
    // Four lanes: v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (mod 2^64).
    add(P1_HIGH, P1_LOW, P2_HIGH, P2_LOW);
    let v1High = result[HIGH];
    let v1Low = result[LOW];
    let v2High = P2_HIGH;
    let v2Low = P2_LOW;
    let v3High = 0;
    let v3Low = 0;
    add(~P1_HIGH >>> 0, ~P1_LOW >>> 0, 0, 1);
    let v4High = result[HIGH];
    let v4Low = result[LOW];
    const stripesEnd = length - 32;
    do {
      round(v1High, v1Low, readU32(bytes, at + 4), readU32(bytes, at));
      v1High = result[HIGH];
      v1Low = result[LOW];
      round(v2High, v2Low, readU32(bytes, at + 12), readU32(bytes, at + 8));
      v2High = result[HIGH];
      v2Low = result[LOW];
      round(v3High, v3Low, readU32(bytes, at + 20), readU32(bytes, at + 16));
      v3High = result[HIGH];
      v3Low = result[LOW];
      round(v4High, v4Low, readU32(bytes, at + 28), readU32(bytes, at + 24));
      v4High = result[HIGH];
      v4Low = result[LOW];
      at += 32;
    } while (at <= stripesEnd);
    rotateLeft(v1High, v1Low, 1);
    hHigh = result[HIGH];
    hLow = result[LOW];
    rotateLeft(v2High, v2Low, 7);
    add(hHigh, hLow, result[HIGH], result[LOW]);
    hHigh = result[HIGH];
    hLow = result[LOW];
    rotateLeft(v3High, v3Low, 12);
    add(hHigh, hLow, result[HIGH], result[LOW]);
    hHigh = result[HIGH];
    hLow = result[LOW];
    rotateLeft(v4High, v4Low, 18);
    add(hHigh, hLow, result[HIGH], result[LOW]);
    mergeRound(result[HIGH], result[LOW], v1High, v1Low);
    mergeRound(result[HIGH], result[LOW], v2High, v2Low);
    mergeRound(result[HIGH], result[LOW], v3High, v3Low);
    mergeRound(result[HIGH], result[LOW], v4High, v4Low);
    hHigh = result[HIGH];
    hLow = result[LOW];
  } else {
    hHigh = P5_HIGH;
    hLow = P5_LOW;
  }
  // h += length (as a u64).
  add(hHigh, hLow, Math.floor(length / 0x100000000), length >>> 0);
  hHigh = result[HIGH];
  hLow = result[LOW];
  while (at + 8 <= length) {
    round(0, 0, readU32(bytes, at + 4), readU32(bytes, at));
    rotateLeft((hHigh ^ result[HIGH]) >>> 0, (hLow ^ result[LOW]) >>> 0, 27);
    multiply(result[HIGH], result[LOW], P1_HIGH, P1_LOW);
    add(result[HIGH], result[LOW], P4_HIGH, P4_LOW);
    hHigh = result[HIGH];
    hLow = result[LOW];
    at += 8;
  }
  if (at + 4 <= length) {
    multiply(0, readU32(bytes, at), P1_HIGH, P1_LOW);
    rotateLeft((hHigh ^ result[HIGH]) >>> 0, (hLow ^ result[LOW]) >>> 0, 23);
    multiply(result[HIGH], result[LOW], P2_HIGH, P2_LOW);
    add(result[HIGH], result[LOW], P3_HIGH, P3_LOW);
    hHigh = result[HIGH];
    hLow = result[LOW];
    at += 4;
  }
  while (at < length) {
    multiply(0, bytes[at]!, P5_HIGH, P5_LOW);
    rotateLeft((hHigh ^ result[HIGH]) >>> 0, (hLow ^ result[LOW]) >>> 0, 11);
    multiply(result[HIGH], result[LOW], P1_HIGH, P1_LOW);
    hHigh = result[HIGH];
    hLow = result[LOW];
    at++;
  }
  // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
  hLow = (hLow ^ (hHigh >>> 1)) >>> 0;
  multiply(hHigh, hLow, P2_HIGH, P2_LOW);
  hHigh = result[HIGH];
  hLow = (result[LOW] ^ ((result[LOW] >>> 29) | (result[HIGH] << 3))) >>> 0;
  hHigh = (hHigh ^ (hHigh >>> 29)) >>> 0;
  multiply(hHigh, hLow, P3_HIGH, P3_LOW);
  result[LOW] = (result[LOW] ^ result[HIGH]) >>> 0;
}

// ------------------------------------------------------ jump consistent hash

/** 2862933555777941757, the paper's linear congruential multiplier. */
const JUMP_HIGH = 0x27bb2ee6;
const JUMP_LOW = 0x87b0b0fd;

/**
 * The paper's loop, on halves:
 *
 *     b = -1, j = 0
 *     while j < buckets: b = j; key = key * 2862933555777941757 + 1
 *                        j = floor((b + 1) * (2^31 / ((key >> 33) + 1)))
 *
 * The floating-point steps are IEEE doubles in C as in JavaScript, so the
 * answer is the reference implementation's.
 */
function jumpHalves(keyHigh: number, keyLow: number, buckets: number): number {
  let bucket = -1;
  let next = 0;
  while (next < buckets) {
    bucket = next;
    multiply(keyHigh, keyLow, JUMP_HIGH, JUMP_LOW);
    add(result[HIGH], result[LOW], 0, 1);
    keyHigh = result[HIGH];
    keyLow = result[LOW];
    next = Math.floor((bucket + 1) * (2147483648 / ((keyHigh >>> 1) + 1)));
  }
  return bucket;
}
