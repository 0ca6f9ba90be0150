/**
 * Test support (not part of the package): a value as a plain tree that
 * `toEqual` compares exactly, for tests that check a value came back as it
 * was written. Two values have the same shape exactly when one is the other
 * as written: numbers by `Object.is` (so `-0` is not `0`), bigints by value,
 * bytes by content, object keys in order.
 *
 *     expect(valueShape(decodeValue(decoder))).toEqual(valueShape({ id: 7n, name: 'x' }));
 */

/** The tree of `value` (see the module comment). */
export function valueShape(value: unknown): unknown {
  if (typeof value === 'number') return ['number', Object.is(value, -0) ? '-0' : String(value)];
  if (typeof value === 'bigint') return ['bigint', value.toString()];
  if (value instanceof Uint8Array) return ['bytes', Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')];
  if (Array.isArray(value)) return ['array', value.map(valueShape)];
  if (value !== null && typeof value === 'object') {
    return ['object', Object.keys(value).map((key) => [key, valueShape((value as Record<string, unknown>)[key])])];
  }
  return [typeof value, value];
}
