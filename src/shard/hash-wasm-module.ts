/**
 * xxHash64 (seed 0) and jump consistent hash as a tiny WebAssembly module,
 * assembled here from its instructions (758 bytes, compiled
 * synchronously once per thread). `ShardRouter.route` runs on the main
 * thread for every operation a tab writes, in a fresh tab, so it runs cold:
 * in JavaScript the two algorithms need 64-bit multiplication on pairs of
 * 32-bit halves, a dozen calls per key that V8 interprets for the first few
 * thousand keys (3 to 6 µs per key over the first 10,000 of the peers
 * workload's keys in a fresh Chromium page). WebAssembly has `i64.mul` and is compiled before
 * its first call, so a key costs its UTF-8 copy and one call from the start.
 *
 *     const hasher = keyHasher();
 *     hasher.bytes.set(utf8, 0);                 // the key's UTF-8 at offset 0
 *     hasher.route(utf8.length, 16);             // its shard among 16
 *     hasher.hash(utf8.length);                  // its xxHash64, a u64 bigint
 *
 * The algorithms are the references' (xxHash64 as Yann Collet specifies it;
 * jump consistent hash as Lamping & Veach's C++ loop, whose floating-point
 * steps are IEEE doubles here as there), pinned by router.test.ts against
 * published vectors, hash-wasm and a BigInt transcription of the paper.
 */
import { JUMP, P1, P2, P3, P4, P5, jsKeyHasher } from './key-hasher-js.js';

/** What the module exports, and a view of the memory keys are written to (offset 0). */
export interface KeyHasher {
  /** The module's memory from offset 0 (replaced when `reserve` grows it). */
  bytes: Uint8Array;
  /** Makes room for `length` bytes of key at offset 0. */
  reserve(length: number): void;
  /** xxHash64 (seed 0) of `bytes[0..length)`, as an unsigned 64-bit bigint. */
  hash(length: number): bigint;
  /** The jump consistent hash bucket in 0..buckets-1 of xxHash64 of `bytes[0..length)`. */
  route(length: number, buckets: number): number;
  /** The jump consistent hash bucket in 0..buckets-1 of the u64 `key` (1..2^31-1 buckets). */
  jump(key: bigint, buckets: number): number;
}

let shared: KeyHasher | undefined;

/**
 * The thread's hasher (instantiated on first use): this module, or where
 * the thread may not compile WebAssembly (a Content-Security-Policy
 * without `'wasm-unsafe-eval'`, a browser with WebAssembly turned off)
 * the same algorithms in JavaScript (`key-hasher-js.ts`).
 */
export function keyHasher(): KeyHasher {
  if (shared === undefined) {
    try {
      shared = instantiate();
    } catch (error) {
      if (typeof WebAssembly === 'object' && !(error instanceof WebAssembly.CompileError)) throw error;
      shared = jsKeyHasher();
    }
  }
  return shared;
}

function instantiate(): KeyHasher {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  const exports = instance.exports as {
    memory: WebAssembly.Memory;
    hash(length: number): bigint;
    route(length: number, buckets: number): number;
    jump(key: bigint, buckets: number): number;
  };
  const hasher: KeyHasher = {
    bytes: new Uint8Array(exports.memory.buffer),
    reserve(length) {
      if (length <= hasher.bytes.length) return;
      exports.memory.grow(Math.ceil((length - hasher.bytes.length) / PAGE));
      hasher.bytes = new Uint8Array(exports.memory.buffer);
    },
    // The i64 result comes back signed; the hash is unsigned.
    hash: (length) => BigInt.asUintN(64, exports.hash(length)),
    route: (length, buckets) => exports.route(length, buckets),
    jump: (key, buckets) => exports.jump(BigInt.asIntN(64, key), buckets),
  };
  return hasher;
}

const PAGE = 65536;

// ------------------------------------------------------------ the module

// Opcodes used (WebAssembly core spec, binary format).
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const ELSE = 0x05;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const VOID = 0x40;
const CALL = 0x10;
const GET = 0x20;
const SET = 0x21;
const TEE = 0x22;
const I64_LOAD = 0x29;
const I64_LOAD8_U = 0x31;
const I64_LOAD32_U = 0x35;
const I32_CONST = 0x41;
const I64_CONST = 0x42;
const F64_CONST = 0x44;
const I32_EQZ = 0x45;
const I32_GT_U = 0x4b;
const I32_LE_U = 0x4d;
const I32_GE_U = 0x4f;
const I64_LT_S = 0x53;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I64_ADD = 0x7c;
const I64_MUL = 0x7e;
const I64_XOR = 0x85;
const I64_SHR_U = 0x88;
const I64_ROTL = 0x89;
const F64_MUL = 0xa2;
const F64_DIV = 0xa3;
const I32_WRAP_I64 = 0xa7;
const I64_TRUNC_F64_S = 0xb0;
const I64_EXTEND_I32_S = 0xac;
const I64_EXTEND_I32_U = 0xad;
const F64_CONVERT_I64_S = 0xb9;
const F64_CONVERT_I64_U = 0xba;
const I32 = 0x7f;
const I64 = 0x7e;

/** Signed LEB128 of a 64-bit two's-complement value. */
function sleb(value: bigint): number[] {
  let v = BigInt.asIntN(64, value);
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

const i64 = (value: bigint): number[] => [I64_CONST, ...sleb(value)];
const i32 = (value: number): number[] => [I32_CONST, ...sleb(BigInt(value))];
const f64 = (value: number): number[] => {
  const bytes = new DataView(new ArrayBuffer(8));
  bytes.setFloat64(0, value, true);
  return [F64_CONST, ...new Uint8Array(bytes.buffer)];
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (text: string): number[] => [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
/** A function body: its locals (one group per type) and its code, an instruction or a few per line. */
const body = (locals: [count: number, type: number][], lines: number[][]): number[] => {
  const bytes = [...vector(locals.map(([count, type]) => [...uleb(count), type])), ...lines.flat(), END];
  return [...uleb(bytes.length), ...bytes];
};

// Function 0, round(acc, input) = rotl(acc + input * P2, 31) * P1.
const ROUND = 0;
const round = body(
  [],
  [
    [GET, 0, GET, 1, ...i64(P2), I64_MUL, I64_ADD],
    [...i64(31n), I64_ROTL, ...i64(P1), I64_MUL],
  ],
);

// Function 1, hash(length): xxHash64 of memory[0..length).
// Locals: 0 length, 1 at, 2 limit (i32); 3 h, 4..7 the lanes v1..v4 (i64).
const HASH = 1;
const [LENGTH, AT, LIMIT, H, V1, V2, V3, V4] = [0, 1, 2, 3, 4, 5, 6, 7];
/** v = round(v, the u64 at `at + offset`). */
const lane = (v: number, offset: number): number[] => [GET, v, GET, AT, I64_LOAD, 3, offset, CALL, ROUND, SET, v];
/** h = (h ^ round(0, v)) * P1 + P4. */
const merge = (v: number): number[] => [GET, H, ...i64(0n), GET, v, CALL, ROUND, I64_XOR, ...i64(P1), I64_MUL, ...i64(P4), I64_ADD, SET, H];
const rotl = (v: number, bits: bigint): number[] => [GET, v, ...i64(bits), I64_ROTL];
const advance = (bytes: number): number[] => [GET, AT, ...i32(bytes), I32_ADD, SET, AT];
const hash = body(
  [
    [2, I32],
    [5, I64],
  ],
  [
    // 32 bytes and more: four lanes over 32-byte stripes, then merged.
    [GET, LENGTH, ...i32(32), I32_GE_U, IF, VOID],
    [...i64(P1 + P2), SET, V1, ...i64(P2), SET, V2, ...i64(0n), SET, V3, ...i64(-P1), SET, V4],
    [GET, LENGTH, ...i32(32), I32_SUB, SET, LIMIT],
    [LOOP, VOID],
    [...lane(V1, 0), ...lane(V2, 8), ...lane(V3, 16), ...lane(V4, 24)],
    [GET, AT, ...i32(32), I32_ADD, TEE, AT, GET, LIMIT, I32_LE_U, BR_IF, 0],
    [END],
    [...rotl(V1, 1n), ...rotl(V2, 7n), I64_ADD, ...rotl(V3, 12n), I64_ADD, ...rotl(V4, 18n), I64_ADD, SET, H],
    [...merge(V1), ...merge(V2), ...merge(V3), ...merge(V4)],
    [ELSE, ...i64(P5), SET, H, END],
    [GET, H, GET, LENGTH, I64_EXTEND_I32_U, I64_ADD, SET, H],
    // 8 bytes at a time: h = rotl(h ^ round(0, u64), 27) * P1 + P4.
    [BLOCK, VOID, LOOP, VOID],
    [GET, AT, ...i32(8), I32_ADD, GET, LENGTH, I32_GT_U, BR_IF, 1],
    [GET, H, ...i64(0n), GET, AT, I64_LOAD, 3, 0, CALL, ROUND, I64_XOR],
    [...i64(27n), I64_ROTL, ...i64(P1), I64_MUL, ...i64(P4), I64_ADD, SET, H],
    [...advance(8), BR, 0, END, END],
    // Then 4: h = rotl(h ^ u32 * P1, 23) * P2 + P3.
    [GET, AT, ...i32(4), I32_ADD, GET, LENGTH, I32_LE_U, IF, VOID],
    [GET, H, GET, AT, I64_LOAD32_U, 2, 0, ...i64(P1), I64_MUL, I64_XOR],
    [...i64(23n), I64_ROTL, ...i64(P2), I64_MUL, ...i64(P3), I64_ADD, SET, H],
    [...advance(4), END],
    // Then 1 at a time: h = rotl(h ^ u8 * P5, 11) * P1.
    [BLOCK, VOID, LOOP, VOID],
    [GET, AT, GET, LENGTH, I32_GE_U, BR_IF, 1],
    [GET, H, GET, AT, I64_LOAD8_U, 0, 0, ...i64(P5), I64_MUL, I64_XOR, ...i64(11n), I64_ROTL, ...i64(P1), I64_MUL, SET, H],
    [...advance(1), BR, 0, END, END],
    // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
    [GET, H, GET, H, ...i64(33n), I64_SHR_U, I64_XOR, ...i64(P2), I64_MUL, SET, H],
    [GET, H, GET, H, ...i64(29n), I64_SHR_U, I64_XOR, ...i64(P3), I64_MUL, SET, H],
    [GET, H, GET, H, ...i64(32n), I64_SHR_U, I64_XOR],
  ],
);

// Function 2, jump(key, buckets): the paper's loop,
//   b = -1, j = 0; while j < buckets: b = j; key = key * JUMP + 1; j = (b + 1) * (2^31 / ((key >> 33) + 1))
// Locals: 0 key (i64), 1 buckets (i32); 2 b, 3 j (i64).
const JUMP_FN = 2;
const [KEY, BUCKETS, B, J] = [0, 1, 2, 3];
const jump = body(
  [[2, I64]],
  [
    [...i64(-1n), SET, B],
    [BLOCK, VOID, LOOP, VOID],
    [GET, J, GET, BUCKETS, I64_EXTEND_I32_S, I64_LT_S, I32_EQZ, BR_IF, 1],
    [GET, J, SET, B],
    [GET, KEY, ...i64(JUMP), I64_MUL, ...i64(1n), I64_ADD, SET, KEY],
    [GET, B, ...i64(1n), I64_ADD, F64_CONVERT_I64_S],
    [...f64(2147483648), GET, KEY, ...i64(33n), I64_SHR_U, ...i64(1n), I64_ADD, F64_CONVERT_I64_U, F64_DIV],
    [F64_MUL, I64_TRUNC_F64_S, SET, J],
    [BR, 0, END, END],
    [GET, B, I32_WRAP_I64],
  ],
);

// Function 3, route(length, buckets) = jump(hash(length), buckets).
const ROUTE = 3;
const routeKey = body([], [[GET, 0, CALL, HASH, GET, 1, CALL, JUMP_FN]]);

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const types = vector([
    [0x60, ...vector([[I64], [I64]]), ...vector([[I64]])], // 0: (i64, i64) -> i64
    [0x60, ...vector([[I32]]), ...vector([[I64]])], // 1: (i32) -> i64
    [0x60, ...vector([[I64], [I32]]), ...vector([[I32]])], // 2: (i64, i32) -> i32
    [0x60, ...vector([[I32], [I32]]), ...vector([[I32]])], // 3: (i32, i32) -> i32
  ]);
  const functions = vector([[0], [1], [2], [3]]);
  const memory = vector([[0x00, 1]]); // one page at least, no maximum
  const exports = vector([
    [...name('memory'), 0x02, 0],
    [...name('hash'), 0x00, HASH],
    [...name('jump'), 0x00, JUMP_FN],
    [...name('route'), 0x00, ROUTE],
  ]);
  const code = [...uleb(4), ...round, ...hash, ...jump, ...routeKey];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, types),
    ...section(3, functions),
    ...section(5, memory),
    ...section(7, exports),
    ...section(10, code),
  ]);
}
