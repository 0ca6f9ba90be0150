import { afterEach, expect, it, vi } from 'vitest';
import { createBlake3 } from './blake3.js';
import { blake3Properties, blake3ReservationProperties } from './testing/blake3-properties.js';

afterEach(() => void vi.restoreAllMocks());

blake3Properties(it, expect);
blake3ReservationProperties(it, expect);

it('falls back to hash-wasm where the engine refuses the SIMD module (no WASM SIMD)', async () => {
  const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
  const b3 = await createBlake3();
  expect(validate).toHaveBeenCalledOnce();
  expect(b3.implementation).toBe('wasm');
  const hex = Array.from(b3.hash(new TextEncoder().encode('abc')), (x) => x.toString(16).padStart(2, '0')).join('');
  expect(hex).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
});
