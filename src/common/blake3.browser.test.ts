import { expect, it } from 'vitest';
import { loadBlake3 } from './blake3.js';
import { blake3Properties } from './testing/blake3-properties.js';

it('loads one BLAKE3 per realm, the SIMD build in Chromium', async () => {
  const [a, b] = await Promise.all([loadBlake3(), loadBlake3()]);
  expect(a).toBe(b); // parallel first calls share one instance
  expect(a.implementation).toBe('wasm-simd');
});

blake3Properties(it, expect);
