import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { xxhash64 } from 'hash-wasm';
import { isTidalError } from '../common/errors.js';
import { keyHasher } from './hash-wasm-module.js';
import { jsKeyHasher } from './key-hasher-js.js';
import { MAX_SHARDS, ShardRouter, hashKey, jumpConsistentHash, xxHash64 } from './router.js';

const hex64 = (value: bigint): string => value.toString(16).padStart(16, '0');

/** The paper's C++ loop, transcribed with BigInt, as an independent reference. */
function referenceJump(key: bigint, buckets: number): number {
  const mask = (1n << 64n) - 1n;
  let bucket = -1n;
  let next = 0n;
  while (next < BigInt(buckets)) {
    bucket = next;
    key = (key * 2862933555777941757n + 1n) & mask;
    next = BigInt(Math.trunc(Number(bucket + 1n) * (2 ** 31 / Number((key >> 33n) + 1n))));
  }
  return Number(bucket);
}

/** A seeded generator of keys (splitmix32), so every run routes the same keys. */
function randomKeys(count: number, seed: number): string[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_/';
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 4 + (next() % 20);
    let key = '';
    for (let c = 0; c < length; c++) key += alphabet[next() % alphabet.length];
    keys.push(key);
  }
  return keys;
}

describe('ShardRouter: golden vectors (pin the placement of keys for good)', () => {
  // Hashes are xxHash64 (seed 0) of the UTF-8 bytes; shards for 1, 2, 16, 100 and 65536 shards.
  const golden: [string, string, number[]][] = [
    ['', 'ef46db3751d8e999', [0, 1, 7, 40, 21747]],
    ['a', 'd24ec4f1a98c6e5b', [0, 1, 8, 17, 37982]],
    ['abc', '44bc2cf5ad770999', [0, 0, 14, 24, 24853]],
    ['user:42', 'dc1fea7da8d2d1c2', [0, 0, 12, 74, 23834]],
    ['é', '17d757dfb8b46f78', [0, 0, 15, 15, 19258]],
    ['😀', '9025b8abaae87b80', [0, 1, 10, 44, 47825]],
    ['y'.repeat(32), '64da1f1d3495ce66', [0, 1, 3, 30, 65238]],
    ['The quick brown fox jumps over the lazy dog, 100 times over and over', 'fabb4172a10edd86', [0, 1, 8, 97, 32848]],
  ];
  const shardCounts = [1, 2, 16, 100, 65536];

  it('hashes keys to the pinned xxHash64 values and routes them to the pinned shards', () => {
    for (const [key, hash, shards] of golden) {
      expect(hex64(hashKey(key)), `hash of ${JSON.stringify(key)}`).toBe(hash);
      const routed = shardCounts.map((count) => new ShardRouter({ shards: count }).route(key));
      expect(routed, `shards of ${JSON.stringify(key)}`).toEqual(shards);
    }
  });

  it('agrees with the xxHash64 test vectors and with hash-wasm, an independent implementation', async () => {
    const encoder = new TextEncoder();
    for (const [key, hash] of golden) expect(await xxhash64(encoder.encode(key))).toBe(hash);
    // Every length class of the algorithm: < 4, 4..7, 8..31, one stripe, several stripes.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        expect(hex64(xxHash64(bytes))).toBe(await xxhash64(bytes));
      }),
      { seed: 0x5a4d, numRuns: 400 },
    );
  });

  it("agrees with the jump hash vectors published by other implementations and with the paper's loop", () => {
    expect(jumpConsistentHash(123456n, 1000)).toBe(984);
    expect(jumpConsistentHash(10863919174838991n, 11)).toBe(6);
    expect(jumpConsistentHash(2016238256797177309n, 11)).toBe(3);
    expect(jumpConsistentHash(1673758223894951030n, 11)).toBe(5);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.oneof(fc.integer({ min: 1, max: 70000 }), fc.constantFrom(1, 2, MAX_SHARDS, 0x7fffffff)),
        (hash, buckets) => {
          expect(jumpConsistentHash(hash, buckets)).toBe(referenceJump(hash, buckets));
        },
      ),
      { seed: 0x1ab, numRuns: 2000 },
    );
  });

  it('routes a key with a lone surrogate as its U+FFFD twin, as TextEncoder encodes it', () => {
    const router = new ShardRouter({ shards: 1000 });
    expect(hashKey('a\uD800b')).toBe(hashKey('a\uFFFDb'));
    expect(router.route('a\uD800b')).toBe(router.route('a\uFFFDb'));
  });
});

describe('ShardRouter: distribution', () => {
  const keys = randomKeys(1_000_000, 0xc0ffee);

  it('spreads 1M random keys over 16 shards within ±3% of the mean', () => {
    const router = new ShardRouter({ shards: 16 });
    const counts = new Array<number>(16).fill(0);
    for (const key of keys) counts[router.route(key)]!++;
    const mean = keys.length / 16;
    for (const count of counts) expect(Math.abs(count - mean) / mean).toBeLessThanOrEqual(0.03);
  });

  it('moves about 1/(n+1) of the keys when growing from n to n+1 shards, all to the new shard', () => {
    const sample = keys.slice(0, 200_000);
    for (const n of [1, 2, 7, 16, 31, 100]) {
      const before = new ShardRouter({ shards: n });
      const after = new ShardRouter({ shards: n + 1 });
      let moved = 0;
      for (const key of sample) {
        const from = before.route(key);
        const to = after.route(key);
        if (from !== to) {
          moved++;
          if (to !== n) throw new Error(`key ${key} moved from shard ${from} to ${to}, not to the new shard ${n}`);
        }
      }
      const expected = sample.length / (n + 1);
      expect(Math.abs(moved - expected) / expected, `moved ${moved} of ${sample.length} keys growing ${n} → ${n + 1}`).toBeLessThanOrEqual(
        0.1,
      );
    }
  });

  it('always answers a shard in 0..shards-1, the same from every router', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.integer({ min: 1, max: MAX_SHARDS }), (key, shards) => {
        const shard = new ShardRouter({ shards }).route(key);
        expect(Number.isInteger(shard) && shard >= 0 && shard < shards).toBe(true);
        expect(new ShardRouter({ shards }).route(key)).toBe(shard);
        expect(shard).toBe(referenceJump(hashKey(key), shards));
      }),
      { seed: 0xd15c, numRuns: 1000 },
    );
  });
});

describe("ShardRouter: the hasher's memory", () => {
  it('routes keys longer than its first memory page (it grows for them), and short keys after them, as the references do', async () => {
    const router = new ShardRouter({ shards: 16 });
    const keys = ['item-1', 'é'.repeat(40_000), 'x'.repeat(70_000), 'item-2', '😀'.repeat(50_000), 'a'];
    for (const key of keys) {
      expect(hex64(hashKey(key)), `key of ${key.length} units`).toBe(await xxhash64(new TextEncoder().encode(key)));
      expect(router.route(key)).toBe(referenceJump(hashKey(key), 16));
    }
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 31 + 7) & 0xff);
    expect(hex64(xxHash64(bytes))).toBe(await xxhash64(bytes));
  });
});

describe('the JavaScript hasher, for a thread that may not compile WebAssembly', () => {
  it('hashes and routes every input as the WebAssembly module does, so keys land on the same shards', async () => {
    const wasm = keyHasher();
    const js = jsKeyHasher();
    const check = (input: Uint8Array, buckets: number): void => {
      wasm.reserve(input.length);
      wasm.bytes.set(input, 0);
      js.reserve(input.length);
      js.bytes.set(input, 0);
      const hash = wasm.hash(input.length);
      expect(js.hash(input.length), `${input.length} bytes`).toBe(hash);
      expect(js.route(input.length, buckets)).toBe(wasm.route(input.length, buckets));
      expect(js.jump(hash, buckets)).toBe(referenceJump(hash, buckets));
    };
    // Every length through two 32-byte stripes and each tail (8-byte words, a 4-byte word, single bytes).
    for (let length = 0; length <= 80; length++)
      check(
        Uint8Array.from({ length }, (_, i) => (i * 151 + length) & 0xff),
        1 + length * 7,
      );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 0x7fffffff }), (input, buckets) => check(input, buckets)),
      { numRuns: 400, seed: 0x5eed },
    );
    expect(js.hash(0)).toBe(BigInt(`0x${await xxhash64(new Uint8Array(0))}`));
  });
});

describe('ShardRouter: refusals', () => {
  it('refuses shard counts outside 1..65536', () => {
    for (const shards of [0, -1, 65537, 1.5, NaN, Infinity, '4', undefined, null]) {
      let error: unknown;
      try {
        new ShardRouter({ shards: shards as number });
      } catch (caught) {
        error = caught;
      }
      expect(isTidalError(error, 'InvalidArgument'), `shards = ${String(shards)}`).toBe(true);
      expect((error as Error).message).toContain('shards must be an integer in 1..65536');
    }
    expect(() => new ShardRouter(undefined as unknown as { shards: number })).toThrow(/InvalidArgument/);
    expect(new ShardRouter({ shards: 1 }).shards).toBe(1);
    expect(new ShardRouter({ shards: MAX_SHARDS }).shards).toBe(65536);
  });

  it('refuses keys that are not strings', () => {
    const router = new ShardRouter({ shards: 4 });
    for (const key of [42, undefined, null, Symbol('k'), { toString: () => 'k' }, new String('k')]) {
      let error: unknown;
      try {
        router.route(key as unknown as string);
      } catch (caught) {
        error = caught;
      }
      expect(isTidalError(error, 'InvalidArgument')).toBe(true);
      expect((error as Error).message).toContain('a shard key must be a string');
    }
  });
});
