import { expect, it } from 'vitest';
import { createBlake3, equalBytes, loadBlake3 } from './blake3.js';
import { blake3Properties, blake3ReservationProperties } from './testing/blake3-properties.js';

it('loads one BLAKE3 per realm, the SIMD build in Chromium', async () => {
  const [a, b] = await Promise.all([loadBlake3(), loadBlake3()]);
  expect(a).toBe(b); // parallel first calls share one instance
  expect(a.implementation).toBe('wasm-simd');
});

blake3Properties(it, expect);
blake3ReservationProperties(it, expect);

it('keeps an incremental state alive while a method of its hasher is (collected hashers free theirs)', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  expect(gc, 'Chromium runs with --js-flags=--expose-gc (scripts/chromium.mjs)').toBeTypeOf('function');
  const b3 = await createBlake3();
  const bytes = new Uint8Array(3000).map((_, i) => i * 7);
  const expected = b3.hash(bytes);
  // only the methods are kept: the hasher object itself can be collected at once
  const { update, digest } = await b3.incremental();
  update(bytes.subarray(0, 1000));
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 50; i++) await b3.incremental(); // dropped at once: their states are freed...
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 10)); // ...once the registry's callbacks ran
    const reused = await Promise.all(Array.from({ length: 50 }, () => b3.incremental())); // ...and taken again
    for (const other of reused) other.update(bytes.subarray(0, 100));
  }
  update(bytes.subarray(1000));
  expect(equalBytes(digest(), expected)).toBe(true);
});
