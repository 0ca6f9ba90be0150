/**
 * Test support (not part of the package): fast-check arbitraries of values
 * for the value codec's property tests and the layers above, weighted
 * toward the edge cases that broke before (docs/PAYLOAD.md §3): `-0`,
 * `NaN`, `±Infinity`, integers at 2^52..2^53, a leading U+FEFF, characters
 * whose code point order and UTF-16 order differ, `__proto__` keys.
 */
import fc from 'fast-check';
import type { Value } from '../value.js';

/** Numbers, most of them edge cases. */
export const numberArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    2 ** 52,
    2 ** 53,
    -(2 ** 53),
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    127,
    128,
    -1,
    -128,
  ),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
);

/** Well-formed strings, with the characters that expose encoding drift. */
export const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc
    .array(fc.constantFrom('\uFEFF', 'a', 'é', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}', '\u0000', '"'), { maxLength: 5 })
    .map((parts) => parts.join('')),
  fc.constantFrom('\uFEFF', '\uFEFFa', '__proto__', 'constructor', '0', '10', '9'),
);

/** Any `Value`, nested a few levels, with edge cases at every leaf. */
export const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    numberArb,
    fc.bigInt({ min: -(1n << 100n), max: 1n << 100n }),
    fc.constantFrom(0n, -1n, (1n << 8191n) * 2n - 1n, -((1n << 8191n) * 2n)),
    textArb,
    fc.uint8Array({ maxLength: 12 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(textArb, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Strings holding at least one lone surrogate (which have no UTF-8 form). */
export const illFormedTextArb: fc.Arbitrary<string> = fc
  .tuple(fc.string({ maxLength: 4 }), fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800'), fc.string({ maxLength: 4 }))
  .map(([a, lone, b]) => a + lone + b)
  .filter((text) => !(text as string & { isWellFormed(): boolean }).isWellFormed());
