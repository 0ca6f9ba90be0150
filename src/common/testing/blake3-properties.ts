/**
 * The BLAKE3 checks that run both in Node (`blake3.test.ts`) and in Chromium
 * (`blake3.browser.test.ts`): both builds (`createBlake3('wasm-simd')` and
 * hash-wasm's) against the test vectors, and the SIMD build against hash-wasm
 * (an independent implementation) on random inputs split at random, with the
 * lengths around BLAKE3's 1 KiB chunks, the SIMD code's 4-chunk groups and
 * the staging area's slices drawn often.
 *
 *     blake3Properties(it, expect);
 *     blake3ReservationProperties(it, expect);
 */
import fc from 'fast-check';
import { createBLAKE3 } from 'hash-wasm';
import type { expect as vitestExpect, it as vitestIt } from 'vitest';
import { createBlake3, type Blake3 } from '../blake3.js';
import { SPLICE_BYTES, STAGING_BYTES } from '../blake3-simd.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Lengths BLAKE3 and the SIMD build treat specially, and their neighbours. */
const EDGES = [
  0,
  1,
  63,
  64,
  65,
  1023,
  1024,
  1025,
  2048,
  4095,
  4096,
  4097,
  8192,
  16 * 1024 + 1,
  STAGING_BYTES - 1,
  STAGING_BYTES,
  STAGING_BYTES + 1,
];
const MAX_LENGTH = STAGING_BYTES + 48 * 1024;

const length = fc.oneof(fc.constantFrom(...EDGES), fc.integer({ min: 0, max: 4200 }), fc.integer({ min: 0, max: MAX_LENGTH }));

/** Random bytes of a drawn length, and cut points that split them into parts (empty parts included). */
const splitInput = length.chain((n) =>
  fc.tuple(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constant(n),
    fc.array(fc.oneof(fc.integer({ min: 0, max: n }), fc.constantFrom(...EDGES.filter((e) => e <= n))), { maxLength: 6 }),
  ),
);

function bytesOf(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function partsOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const sorted = [...cuts].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const cut of sorted) {
    parts.push(bytes.subarray(at, cut));
    at = cut;
  }
  parts.push(bytes.subarray(at));
  return parts;
}

/** Registers the shared BLAKE3 tests with the given vitest `it` and `expect`. */
export function blake3Properties(it: typeof vitestIt, expect: typeof vitestExpect): void {
  let simd: Blake3;
  let portable: Blake3;
  const reference = async (bytes: Uint8Array) => {
    const h = await createBLAKE3(256);
    return h.init().update(bytes).digest('binary');
  };

  it('loads the SIMD build here, and hash-wasm when asked for it', async () => {
    simd = await createBlake3();
    portable = await createBlake3('wasm');
    expect(simd.implementation).toBe('wasm-simd');
    expect(portable.implementation).toBe('wasm');
  });

  it('hashes the BLAKE3 test vectors with both builds, whole, in parts and incrementally', async () => {
    const abc = new TextEncoder().encode('abc');
    for (const b3 of [simd, portable]) {
      expect(hex(b3.hash())).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
      expect(hex(b3.hash(new Uint8Array(0), new Uint8Array(0)))).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
      expect(hex(b3.hash(abc))).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
      expect(hex(b3.hash(abc.subarray(0, 1), abc.subarray(1)))).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
      const inc = await b3.incremental();
      expect(hex(inc.digest())).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
      inc.reset();
      inc.update(abc.subarray(0, 2));
      inc.update(abc.subarray(2));
      expect(hex(inc.digest())).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
    }
  });

  it('gives the digests of hash-wasm for random inputs split into random parts', async () => {
    await fc.assert(
      fc.asyncProperty(splitInput, async ([seed, n, cuts]) => {
        const bytes = bytesOf(seed, n);
        const expected = hex(await reference(bytes));
        expect(hex(simd.hash(bytes))).toBe(expected);
        expect(hex(simd.hash(...partsOf(bytes, cuts)))).toBe(expected);
        expect(hex(portable.hash(...partsOf(bytes, cuts)))).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the digests of hash-wasm incrementally, two hashers interleaved, across resets', async () => {
    for (const b3 of [simd, portable]) {
      const inc = await b3.incremental();
      const other = await b3.incremental(); // interleaved with inc: each keeps its own state
      await fc.assert(
        fc.asyncProperty(splitInput, splitInput, async ([seed, n, cuts], [seed2, n2, cuts2]) => {
          const bytes = bytesOf(seed, n);
          const bytes2 = bytesOf(seed2, n2);
          inc.reset();
          other.reset();
          const parts2 = partsOf(bytes2, cuts2);
          for (const part of partsOf(bytes, cuts)) {
            inc.update(part);
            b3.hash(part); // the shared hasher and the staging area, used between updates
            const part2 = parts2.shift();
            if (part2) other.update(part2);
          }
          for (const part2 of parts2) other.update(part2);
          expect(hex(inc.digest())).toBe(hex(await reference(bytes)));
          expect(hex(other.digest())).toBe(hex(await reference(bytes2)));
        }),
        { numRuns: 60 },
      );
    }
  });

  it('makes incremental hashers in a new instance once live ones fill the memory of the first', async () => {
    const bytes = bytesOf(7, 5000);
    const expected = hex(await reference(bytes));
    const live = [];
    for (let i = 0; i < 6000; i++) {
      // 6,000 live states of 2 KiB do not fit in the ~11 MiB an instance has free
      const inc = await simd.incremental();
      inc.update(bytes.subarray(0, i % 5000));
      live.push(inc);
    }
    for (const inc of live) {
      inc.reset();
      inc.update(bytes);
      expect(hex(inc.digest())).toBe(expected);
    }
    expect(hex(simd.hash(bytes))).toBe(expected);
  });
}

/**
 * `Blake3.reserve`: input read or written into the SIMD build's own memory is hashed where it lies,
 * whole, in two parts moved together (a header before its payload) and incrementally, with the
 * digests of hash-wasm and its bytes as they were; hash-wasm's build has no room to give.
 */
export function blake3ReservationProperties(it: typeof vitestIt, expect: typeof vitestExpect): void {
  const reference = async (...parts: Uint8Array[]) => {
    const h = (await createBLAKE3(256)).init();
    for (const part of parts) h.update(part);
    return hex(h.digest('binary'));
  };
  /** Room of `n` bytes filled from `seed`, with the bytes it was filled with. */
  const filled = (b3: Blake3, seed: number, n: number) => {
    const room = b3.reserve(n);
    if (!room) throw new Error(`no room for ${n} bytes`);
    const bytes = bytesOf(seed, n);
    room.bytes.set(bytes);
    return { room, bytes };
  };
  /** A first part, a gap and a second part of a room of `n` bytes, and where the second starts. */
  const layout = fc
    .tuple(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.oneof(fc.integer({ min: 0, max: SPLICE_BYTES + 8 }), fc.constantFrom(0, 1, 40, 56, SPLICE_BYTES)),
      fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constantFrom(0, 32)),
      length,
      fc.integer({ min: 0, max: 100 }),
    )
    .map(([seed, first, gap, second, offset]) => ({ seed, offset, first, gap, second }));

  it("hashes input in the SIMD build's own memory where it lies, whole and as a header before its payload", async () => {
    const b3 = await createBlake3();
    await fc.assert(
      fc.asyncProperty(layout, async ({ seed, offset, first, gap, second }) => {
        const { room, bytes } = filled(b3, seed, offset + first + gap + second);
        try {
          const a = room.bytes.subarray(offset, offset + first);
          const b = room.bytes.subarray(offset + first + gap);
          expect(hex(b3.hash(room.bytes))).toBe(await reference(bytes));
          expect(hex(b3.hash(a, b))).toBe(await reference(bytes.subarray(offset, offset + first), bytes.subarray(offset + first + gap)));
          expect(hex(b3.hash(b))).toBe(await reference(bytes.subarray(offset + first + gap)));
          // the parts the other way round, or with a third: hashed as any other input
          expect(hex(b3.hash(b, a))).toBe(await reference(bytes.subarray(offset + first + gap), bytes.subarray(offset, offset + first)));
          expect(hex(b3.hash(a, b, a))).toBe(
            await reference(
              bytes.subarray(offset, offset + first),
              bytes.subarray(offset + first + gap),
              bytes.subarray(offset, offset + first),
            ),
          );
          const inc = await b3.incremental();
          inc.update(a);
          inc.update(b);
          expect(hex(inc.digest())).toBe(await reference(bytes.subarray(offset, offset + first), bytes.subarray(offset + first + gap)));
          expect(hex(room.bytes)).toBe(hex(bytes)); // every byte as it was
        } finally {
          room.release();
        }
      }),
      { numRuns: 80 },
    );
  });

  it('hashes parts of two rooms, or of a room and a plain buffer, as any other input', async () => {
    const b3 = await createBlake3();
    const one = filled(b3, 1, 3000);
    const two = filled(b3, 2, 3000);
    try {
      const plain = bytesOf(3, 3000);
      expect(hex(b3.hash(one.room.bytes.subarray(0, 40), two.room.bytes.subarray(72)))).toBe(
        await reference(one.bytes.subarray(0, 40), two.bytes.subarray(72)),
      );
      expect(hex(b3.hash(plain.subarray(0, 40), one.room.bytes.subarray(72)))).toBe(
        await reference(plain.subarray(0, 40), one.bytes.subarray(72)),
      );
      expect(hex(b3.hash(one.room.bytes.subarray(0, 40), plain.subarray(72)))).toBe(
        await reference(one.bytes.subarray(0, 40), plain.subarray(72)),
      );
      expect(hex(one.room.bytes)).toBe(hex(one.bytes));
      expect(hex(two.room.bytes)).toBe(hex(two.bytes));
    } finally {
      one.room.release();
      two.room.release();
    }
  });

  it('gives room back on release (once), has none past its memory, and hash-wasm has none at all', async () => {
    const b3 = await createBlake3();
    expect(b3.reserve(32 * 1024 * 1024)).toBeUndefined(); // more than the module's 16 MiB
    for (let i = 0; i < 8; i++) {
      // 8 x 10 MiB only fit one after another
      const room = b3.reserve(10 * 1024 * 1024);
      expect(room?.bytes.length).toBe(10 * 1024 * 1024);
      room!.release();
      room!.release(); // a second release frees nothing twice
    }
    const held = b3.reserve(10 * 1024 * 1024);
    expect(b3.reserve(10 * 1024 * 1024)).toBeUndefined();
    held!.release();
    expect((await createBlake3('wasm')).reserve(1024)).toBeUndefined();
  });
}
