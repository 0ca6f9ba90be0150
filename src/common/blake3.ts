/**
 * BLAKE3-256 for the whole package: the official C implementation compiled
 * to WASM SIMD128 (`blake3-simd.ts`) where the engine has WASM SIMD (every
 * current browser), hash-wasm's portable WASM build elsewhere. Both give the
 * same digests; `implementation` says which one a realm runs.
 *
 * One hasher instance per worker (per JS realm), created lazily behind a
 * promise so that parallel first calls share one instantiation; after that
 * hashing is synchronous. Digests are compared as bytes, never as hex.
 *
 *     const b3 = await loadBlake3();
 *     const digest = b3.hash(header.subarray(0, 40), payload);
 */
import { createBLAKE3, type IHasher } from 'hash-wasm';
import { createSimdBlake3 } from './blake3-simd.js';

/** Length of a BLAKE3-256 digest in bytes. */
export const DIGEST_BYTES = 32;

/** A BLAKE3-256 hasher that can be fed in parts. */
export interface IncrementalBlake3 {
  /** Feeds the next part of the input. */
  update(bytes: Uint8Array): void;
  /** The digest of everything fed since creation or the last `reset`; `reset` before feeding it again. */
  digest(): Uint8Array;
  /** Starts over with no input, reusing the hasher. */
  reset(): void;
}

/** Room in a hasher's own memory (`Blake3.reserve`). */
export interface Blake3Reservation {
  /** The room: `length` bytes, their content unspecified until written. Not to be used after `release`. */
  readonly bytes: Uint8Array;
  /** Gives the room back (once; later calls do nothing). */
  release(): void;
}

/** Synchronous BLAKE3-256 once loaded. */
export interface Blake3 {
  /** Which build hashes: `'wasm-simd'` (BLAKE3's C code over WASM SIMD128) or `'wasm'` (hash-wasm, no SIMD). */
  readonly implementation: 'wasm-simd' | 'wasm';
  /** The digest of the concatenation of `parts` (never concatenated: each is copied into the hasher's WASM memory as it is fed). */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** A separate hasher for data that arrives over time (a segment being written). */
  incremental(): Promise<IncrementalBlake3>;
  /**
   * Room for `length` bytes in the hasher's own memory, or `undefined` when
   * there is none to give (hash-wasm's build never has; the SIMD build's
   * memory is fixed at 16 MiB). `hash` and `update` read views of it where
   * they lie instead of copying them in: read a file straight into it to
   * hash the file with no copy. Released by its holder when done.
   */
  reserve(length: number): Blake3Reservation | undefined;
}

let loading: Promise<Blake3> | undefined;

/** The per-realm BLAKE3, instantiated on first use: the SIMD build where the engine accepts it, else hash-wasm. */
export function loadBlake3(): Promise<Blake3> {
  loading ??= createBlake3().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** A new BLAKE3 (not the per-realm one): `'wasm-simd'` unless the engine refuses that module, or `'wasm'` when asked for. */
export async function createBlake3(implementation: 'wasm-simd' | 'wasm' = 'wasm-simd'): Promise<Blake3> {
  const simd = implementation === 'wasm-simd' ? await createSimdBlake3() : undefined;
  return simd ?? makePortableBlake3(await createBLAKE3(256));
}

function makePortableBlake3(shared: IHasher): Blake3 {
  return {
    implementation: 'wasm',
    hash(...parts) {
      shared.init();
      for (const part of parts) shared.update(part);
      return shared.digest('binary');
    },
    reserve: () => undefined,
    async incremental() {
      const own = await createBLAKE3(256);
      own.init();
      return {
        update: (bytes) => void own.update(bytes),
        digest: () => own.digest('binary'),
        reset: () => void own.init(),
      };
    },
  };
}

/** Byte-wise equality of two digests (or any two byte strings). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
