/**
 * The key hasher in plain JavaScript, for a thread that may not compile
 * WebAssembly: a page whose Content-Security-Policy has neither
 * `'wasm-unsafe-eval'` nor `'unsafe-eval'` (a policy in a `<meta>` element
 * binds the page, not its workers, so the database opens there and its
 * writes must still route). The same algorithms as `hash-wasm-module.ts`
 * on BigInt, so the same keys land on the same shards; about ten times
 * slower per key, which only such a page pays.
 */
import type { KeyHasher } from './hash-wasm-module.js';

const MASK = (1n << 64n) - 1n;
/** xxHash64's primes (here and in the WebAssembly module). */
export const P1 = 0x9e3779b185ebca87n;
export const P2 = 0xc2b2ae3d27d4eb4fn;
export const P3 = 0x165667b19e3779f9n;
export const P4 = 0x85ebca77c2b2ae63n;
export const P5 = 0x27d4eb2f165667c5n;
/** 2862933555777941757, the jump hash's linear congruential multiplier. */
export const JUMP = 2862933555777941757n;

const rotl = (x: bigint, bits: bigint): bigint => ((x << bits) | (x >> (64n - bits))) & MASK;
const round = (acc: bigint, input: bigint): bigint => (rotl((acc + input * P2) & MASK, 31n) * P1) & MASK;
const merge = (hash: bigint, acc: bigint): bigint => ((((hash ^ round(0n, acc)) * P1) & MASK) + P4) & MASK;

/** xxHash64 (seed 0) of `bytes[0..length)`. */
function xxHash64(bytes: Uint8Array, length: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let hash: bigint;
  if (length >= 32) {
    let v1 = (P1 + P2) & MASK;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (MASK + 1n - P1) & MASK;
    for (; at + 32 <= length; at += 32) {
      v1 = round(v1, view.getBigUint64(at, true));
      v2 = round(v2, view.getBigUint64(at + 8, true));
      v3 = round(v3, view.getBigUint64(at + 16, true));
      v4 = round(v4, view.getBigUint64(at + 24, true));
    }
    hash = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    for (const v of [v1, v2, v3, v4]) hash = merge(hash, v);
  } else {
    hash = P5;
  }
  hash = (hash + BigInt(length)) & MASK;
  for (; at + 8 <= length; at += 8) hash = (((rotl(hash ^ round(0n, view.getBigUint64(at, true)), 27n) * P1) & MASK) + P4) & MASK;
  if (at + 4 <= length) {
    hash = (((rotl(hash ^ ((BigInt(view.getUint32(at, true)) * P1) & MASK), 23n) * P2) & MASK) + P3) & MASK;
    at += 4;
  }
  for (; at < length; at++) hash = (rotl(hash ^ ((BigInt(bytes[at]!) * P5) & MASK), 11n) * P1) & MASK;
  hash ^= hash >> 33n;
  hash = (hash * P2) & MASK;
  hash ^= hash >> 29n;
  hash = (hash * P3) & MASK;
  return hash ^ (hash >> 32n);
}

/** Jump consistent hash (Lamping & Veach's loop; its floating-point steps are IEEE doubles, as in C). */
function jump(key: bigint, buckets: number): number {
  let bucket = -1;
  let next = 0;
  while (next < buckets) {
    bucket = next;
    key = (key * JUMP + 1n) & MASK;
    next = Math.floor((bucket + 1) * (2147483648 / (Number(key >> 33n) + 1)));
  }
  return bucket;
}

/** A `KeyHasher` in JavaScript (see the module comment). */
export function jsKeyHasher(): KeyHasher {
  const hasher: KeyHasher = {
    bytes: new Uint8Array(256),
    reserve(length) {
      if (length <= hasher.bytes.length) return;
      hasher.bytes = new Uint8Array(Math.max(length, hasher.bytes.length * 2));
    },
    hash: (length) => xxHash64(hasher.bytes, length),
    route: (length, buckets) => jump(xxHash64(hasher.bytes, length), buckets),
    jump: (key, buckets) => jump(key, buckets),
  };
  return hasher;
}
