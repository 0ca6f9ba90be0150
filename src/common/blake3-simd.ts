/**
 * BLAKE3-256 over WASM SIMD128: the official BLAKE3 C implementation (its
 * SSE4.1 code, four chunks at a time) compiled by emscripten, the module of
 * the npm package blake3-wasm@3.0.0, vendored in `blake3-simd-wasm.ts` by
 * scripts/vendor-blake3-wasm.mjs. About 1.8x hash-wasm's portable build from
 * 4 KiB up. `loadBlake3()` (blake3.ts) uses it where `WebAssembly.validate`
 * accepts the module, hash-wasm elsewhere.
 *
 * The module's memory is fixed (16 MiB, its initial size is its maximum), so
 * nothing here grows it: input is copied into one staging area of
 * `STAGING_BYTES` and hashed from there, one slice at a time when it is
 * larger, and each incremental hasher is one small fixed allocation, freed
 * when the hasher is collected (a new instance of the module when the
 * memory is full of live ones).
 *
 * Input that already lies in the module's memory (in room a caller took
 * with `reserve`, e.g. a file read straight into it) is hashed where it
 * lies, with no copy; a part of at most `SPLICE_BYTES` followed by a later
 * part of the same reservation (a batch header before its payload) is moved
 * up against it for the call, so that the two are hashed in one pass, and
 * the bytes it covered are put back before `hash` returns.
 *
 *     const b3 = await createSimdBlake3(); // undefined without WASM SIMD
 *     b3?.hash(header.subarray(0, 40), payload);
 *     const room = b3?.reserve(size);      // file.read(room.bytes, 0); b3.hash(room.bytes); room.release();
 */
import type { Blake3, Blake3Reservation, IncrementalBlake3 } from './blake3.js';
import { BLAKE3_SIMD_WASM_BASE64 } from './blake3-simd-wasm.js';

/** Bytes of input hashed per call into the module (a whole number of 1 KiB BLAKE3 chunks). */
export const STAGING_BYTES = 256 * 1024;

/**
 * Longest first part that `hash` moves up against a second part in the same
 * reservation (the bytes it covers are saved in an area of this size).
 */
export const SPLICE_BYTES = 1024;

/**
 * Bytes reserved per hasher state. `blake3_hasher` is 1,912 bytes on wasm32;
 * the vendor script checks that the module's own allocations of it are
 * smaller than this, so a state copied at this length is whole.
 */
const HASHER_SLOT_BYTES = 2048;

const DIGEST_LENGTH = 32;

/** The module's exports, by the names its emscripten glue maps (checked by the vendor script). */
interface Blake3SimdExports {
  /** The module's memory. */
  d: WebAssembly.Memory;
  /** `__wasm_call_ctors`, called once. */
  e(): void;
  /** `hash_oneshot(input, length, out, outLength)`. */
  f(input: number, length: number, out: number, outLength: number): void;
  /** `malloc(bytes)`: 0 when the memory is used up. */
  h(bytes: number): number;
  /** `hasher_init(unused)`: a new `blake3_hasher`, malloc'd. */
  i(unused: number): number;
  /** `hasher_update(hasher, input, length)`. */
  l(hasher: number, input: number, length: number): void;
  /** `hasher_read(hasher, seekHigh, seekLow, out, length)`: the output from a 64-bit offset, the state unchanged. */
  m(hasher: number, seekHigh: number, seekLow: number, out: number, length: number): void;
  /** `free(pointer)`. */
  o(pointer: number): void;
}

/** The vendored module's bytes. */
export function blake3SimdModuleBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(BLAKE3_SIMD_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The SIMD BLAKE3, or `undefined` where this engine does not accept the
 * module (no WASM SIMD). Once live incremental hashers fill an instance's
 * memory (about 5,000 of them), the next ones are made in a new instance.
 */
export async function createSimdBlake3(): Promise<Blake3 | undefined> {
  const bytes = blake3SimdModuleBytes();
  if (!WebAssembly.validate(bytes)) return undefined;
  const module = await WebAssembly.compile(bytes);
  const instances = [await instantiate(module)];
  return {
    implementation: 'wasm-simd',
    hash: instances[0]!.hash,
    // Room in the instance `hash` runs in: that is the memory it reads in place.
    reserve: instances[0]!.reserve,
    async incremental() {
      for (const instance of instances) {
        const hasher = instance.incremental();
        if (hasher) return hasher;
      }
      const fresh = await instantiate(module);
      instances.push(fresh);
      return fresh.incremental() ?? unreachable('no room for a hasher in a fresh instance');
    },
  };
}

/** One instance of the module: its one-shot hash, and incremental hashers allocated in its memory. */
interface Blake3SimdInstance {
  hash(...parts: Uint8Array[]): Uint8Array;
  /** `undefined` when its memory is full. */
  incremental(): IncrementalBlake3 | undefined;
  /** Room in its memory, read in place by its `hash`; `undefined` when its memory is full. */
  reserve(length: number): Blake3Reservation | undefined;
}

async function instantiate(module: WebAssembly.Module): Promise<Blake3SimdInstance> {
  const instantiated: { memory?: WebAssembly.Memory } = {};
  const imports = {
    a: {
      // emscripten_resize_heap: the memory's maximum is its initial size; malloc answers 0.
      a: () => 0,
      // emscripten_memcpy_big(dest, src, length)
      b: (dest: number, src: number, length: number) =>
        void new Uint8Array(instantiated.memory!.buffer).copyWithin(dest, src, src + length),
      // __assert_fail: a bug in the module or in how it is called here.
      c: () => unreachable('assertion failed'),
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as unknown as Blake3SimdExports;
  instantiated.memory = exports.d;
  return makeInstance(exports);
}

function makeInstance(wasm: Blake3SimdExports): Blake3SimdInstance {
  wasm.e();
  // Never grows (its maximum is its initial size), so this view stays valid.
  const heap = new Uint8Array(wasm.d.buffer);
  const staging = allocate(wasm, STAGING_BYTES + DIGEST_LENGTH);
  const out = staging + STAGING_BYTES;
  const pristine = allocate(wasm, HASHER_SLOT_BYTES);
  const initial = wasm.i(0);
  heap.copyWithin(pristine, initial, initial + HASHER_SLOT_BYTES);
  wasm.o(initial);
  const shared = allocate(wasm, HASHER_SLOT_BYTES);
  const spliceSave = allocate(wasm, SPLICE_BYTES);
  const release = new FinalizationRegistry<number>((slot) => wasm.o(slot));
  /** Live reservations: start -> end in the heap. */
  const reserved = new Map<number, number>();

  /** Where the reservation holding `part` whole starts, when `part` lies in one (so in the module's memory). */
  const holding = (part: Uint8Array): number | undefined => {
    if (part.buffer !== heap.buffer) return undefined;
    for (const [start, end] of reserved) if (start <= part.byteOffset && part.byteOffset + part.length <= end) return start;
    return undefined;
  };
  /** Feeds `bytes` to the hasher at `slot`: in place from a reservation, else a staging area at a time. */
  const update = (slot: number, bytes: Uint8Array) => {
    if (bytes.length > 0 && holding(bytes) !== undefined) {
      wasm.l(slot, bytes.byteOffset, bytes.length);
      return;
    }
    for (let at = 0; at < bytes.length; at += STAGING_BYTES) {
      const part = bytes.subarray(at, at + STAGING_BYTES);
      heap.set(part, staging);
      wasm.l(slot, staging, part.length);
    }
  };
  const digest = (slot: number) => {
    wasm.m(slot, 0, 0, out, DIGEST_LENGTH);
    return heap.slice(out, out + DIGEST_LENGTH);
  };
  const reset = (slot: number) => void heap.copyWithin(slot, pristine, pristine + HASHER_SLOT_BYTES);
  const oneShot = (pointer: number, length: number) => {
    wasm.f(pointer, length, out, DIGEST_LENGTH);
    return heap.slice(out, out + DIGEST_LENGTH);
  };
  /**
   * `first` then `second`, both in one reservation and `first` wholly before `second`, in one pass:
   * `first` is moved up to end where `second` starts, over bytes of the same reservation, put back after.
   */
  const spliced = (first: Uint8Array, second: Uint8Array): Uint8Array => {
    const at = second.byteOffset - first.length;
    heap.copyWithin(spliceSave, at, second.byteOffset);
    heap.copyWithin(at, first.byteOffset, first.byteOffset + first.length);
    try {
      return oneShot(at, first.length + second.length);
    } finally {
      heap.copyWithin(at, spliceSave, spliceSave + first.length);
    }
  };

  return {
    hash(...parts) {
      if (parts.length === 1 && holding(parts[0]!) !== undefined) return oneShot(parts[0]!.byteOffset, parts[0]!.length);
      if (parts.length === 2) {
        const [first, second] = parts as [Uint8Array, Uint8Array];
        const room = first.length <= SPLICE_BYTES && first.byteOffset + first.length <= second.byteOffset ? holding(first) : undefined;
        if (room !== undefined && holding(second) === room) return spliced(first, second);
      }
      let total = 0;
      for (const part of parts) total += part.length;
      if (total <= STAGING_BYTES) {
        let at = staging;
        for (const part of parts) {
          heap.set(part, at);
          at += part.length;
        }
        return oneShot(staging, total);
      }
      reset(shared);
      for (const part of parts) update(shared, part);
      return digest(shared);
    },
    reserve(length) {
      const pointer = wasm.h(Math.max(length, 1));
      if (pointer === 0) return undefined;
      reserved.set(pointer, pointer + length);
      let live = true;
      return {
        bytes: heap.subarray(pointer, pointer + length),
        release() {
          if (!live) return;
          live = false;
          reserved.delete(pointer);
          wasm.o(pointer);
        },
      };
    },
    incremental() {
      const slot = wasm.h(HASHER_SLOT_BYTES);
      if (slot === 0) return undefined;
      // The state is freed once `owner` is collected; every method holds `owner`, so a method kept
      // apart from its hasher (`const { update } = hasher`) keeps the state alive too.
      const owner = { slot };
      reset(slot);
      release.register(owner, slot);
      return {
        update: (bytes) => update(owner.slot, bytes),
        digest: () => digest(owner.slot),
        reset: () => reset(owner.slot),
      };
    },
  };
}

/** `malloc` at load time, when the memory is fresh: failing here is a broken module. */
function allocate(wasm: Blake3SimdExports, bytes: number): number {
  return wasm.h(bytes) || unreachable(`no room for ${bytes} bytes in a fresh memory`);
}

/** A bug in the module or in how it is called here, not something a caller can cause. */
function unreachable(what: string): never {
  throw new Error(`BLAKE3 SIMD module: ${what}`);
}
