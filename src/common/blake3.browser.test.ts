import { expect, it } from 'vitest';
import { equalBytes, loadBlake3 } from './blake3.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

it('hashes the BLAKE3 test vectors in the browser, in parts and incrementally', async () => {
  const [a, b] = await Promise.all([loadBlake3(), loadBlake3()]);
  expect(a).toBe(b); // parallel first calls share one instance
  expect(hex(a.hash())).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  const abc = new TextEncoder().encode('abc');
  const whole = a.hash(abc);
  expect(hex(whole)).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  expect(equalBytes(a.hash(abc.subarray(0, 1), abc.subarray(1)), whole)).toBe(true);
  const inc = await a.incremental();
  inc.update(abc.subarray(0, 2));
  inc.update(abc.subarray(2));
  expect(equalBytes(inc.digest(), whole)).toBe(true);
});
