import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from './bytes.js';
import { isTidalError } from './errors.js';
import { illFormedTextArb, textArb, valueArb } from './testing/value-arbitraries.js';
import {
  MAX_VALUE_BYTES,
  MAX_VALUE_DEPTH,
  assertStorableValue,
  canonicalValueBytes,
  compareCodePoints,
  decodeCanonicalValue,
  decodeExactValue,
  decodeValue,
  exactValueBytes,
  isWellFormedString,
  readUtf8,
  valuesEqual,
  writeUtf8,
  type Value,
} from './value.js';
import { valueShape as shape } from './testing/value-shape.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/**
 * The model of canonical equality, written without the codec: -0 is 0, NaN
 * is NaN, object keys are a set (listed in UTF-8 byte order, which is code
 * point order), everything else as in `shape`.
 */
function model(value: unknown): unknown {
  if (typeof value === 'number') return ['number', value === 0 ? '0' : String(value)];
  if (Array.isArray(value)) return ['array', value.map(model)];
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return ['object', keys.map((key) => [key, model((value as Record<string, unknown>)[key])])];
  }
  return shape(value);
}

const sameModel = (a: unknown, b: unknown) => JSON.stringify(model(a)) === JSON.stringify(model(b));

/** `value` with every object's keys in reverse order: the same value, canonically. */
function reversedKeys(value: Value): Value {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: { [key: string]: Value } = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, { value: reversedKeys(value[key]!), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function refusalCode(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (isTidalError(error)) return error.code;
    throw error;
  }
  return 'none';
}

describe('value codec: exact form (docs/PAYLOAD.md §2)', () => {
  it('writes the bytes the payload golden tests pin, -0, NaN and ±Infinity included', () => {
    const golden: [Value, string][] = [
      [0, '80'],
      [127, 'ff'],
      [128, '038001'],
      [-1, '0400'],
      [-0, '050000000000000080'],
      [NaN, '05000000000000f87f'],
      [Infinity, '05000000000000f07f'],
      [-Infinity, '05000000000000f0ff'],
      [2 ** 52, `03${'80'.repeat(7)}08`],
      ['\uFEFFa', '0804efbbbf61'],
      [{ b: 1, a: 2 }, '0b02016281016182'],
    ];
    for (const [value, expected] of golden) expect(hex(exactValueBytes(value)), String(value)).toBe(expected);
  });

  it('writes one NaN whatever the NaN bits, and reads any NaN as NaN', () => {
    const bits = new DataView(new ArrayBuffer(8));
    bits.setUint32(0, 0x7ff00001, false); // a signalling NaN pattern (big-endian view of the f64)
    bits.setUint32(4, 0xdeadbeef, false);
    const odd = bits.getFloat64(0, false);
    expect(Number.isNaN(odd)).toBe(true);
    expect(hex(exactValueBytes(odd))).toBe('05000000000000f87f');
    expect(Number.isNaN(decodeValue(new Decoder(fromHex('05efbeadde0100f07f'))))).toBe(true);
  });

  it('round-trips every value exactly: Object.is numbers, key order, BOM (seeded)', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const bytes = exactValueBytes(value);
        const back = decodeExactValue(new Decoder(bytes));
        expect(shape(back.value)).toEqual(shape(value));
        expect(hex(back.bytes)).toBe(hex(bytes));
        expect(hex(exactValueBytes(back.value))).toBe(hex(bytes));
      }),
      { seed: 0xe8ac7, numRuns: 600 },
    );
  });

  it('refuses, in the strict exact reader, forms the encoder never writes', () => {
    const cases = [
      '050000000000000840', // 3 as an f64
      '05efbeadde0100f07f', // another NaN
      '030100', // 1 in the long form
      '038000', // a non-minimal LEB128
    ];
    for (const bytes of cases)
      expect(
        refusalCode(() => decodeExactValue(new Decoder(fromHex(bytes)))),
        bytes,
      ).toBe('MalformedPayload');
    // ...which the lenient (WAL) reader still takes: old logs stay readable.
    expect(decodeValue(new Decoder(fromHex('050000000000000840')))).toBe(3);
  });
});

describe('value codec: canonical form and equality (docs/PAYLOAD.md §3)', () => {
  it('writes the documented canonical bytes', () => {
    const golden: [Value, string][] = [
      [-0, '80'],
      [0, '80'],
      [NaN, '05000000000000f87f'],
      [{ b: 1, a: 2 }, '0b02016182016281'],
      // Code point order: U+E000 (ee 80 80) before U+10000 (f0 90 80 80), though '\u{10000}' < '\uE000' in UTF-16.
      [{ '\u{10000}': 1, '\uE000': 2 }, '0b0203ee808082' + '04f090808081'],
      [[{ y: -0, x: [] }], '0a01' + '0b02' + '01780a00' + '017980'],
    ];
    for (const [value, expected] of golden) expect(hex(canonicalValueBytes(value)), JSON.stringify(shape(value))).toBe(expected);
  });

  it('equal values have identical canonical bytes; different ones do not (seeded)', () => {
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        expect(hex(canonicalValueBytes(reversedKeys(a)))).toBe(hex(canonicalValueBytes(a)));
        expect(valuesEqual(a, reversedKeys(a))).toBe(true);
        expect(valuesEqual(a, b)).toBe(sameModel(a, b));
        expect(hex(canonicalValueBytes(a)) === hex(canonicalValueBytes(b))).toBe(sameModel(a, b));
      }),
      { seed: 0xca0, numRuns: 600 },
    );
    expect(valuesEqual(-0, 0)).toBe(true);
    expect(valuesEqual(NaN, NaN)).toBe(true);
    expect(valuesEqual([-0, NaN], [0, NaN])).toBe(true);
    expect(valuesEqual(1, 1n)).toBe(false);
    expect(valuesEqual('\uFEFFa', 'a')).toBe(false);
    expect(valuesEqual(new Uint8Array([1]), [1])).toBe(false);
  });

  it('decodes canonical bytes to the canonical representative, and refuses every other form (seeded)', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const bytes = canonicalValueBytes(value);
        const back = decodeCanonicalValue(new Decoder(bytes));
        expect(sameModel(back.value, value)).toBe(true);
        expect(hex(canonicalValueBytes(back.value))).toBe(hex(bytes));
        const exact = exactValueBytes(value);
        if (hex(exact) !== hex(bytes)) expect(refusalCode(() => decodeCanonicalValue(new Decoder(exact)))).toBe('MalformedPayload');
      }),
      { seed: 0xca1, numRuns: 600 },
    );
    for (const bytes of ['050000000000000080', '0b02016281016182', '0b02016181016181', '030100']) {
      expect(
        refusalCode(() => decodeCanonicalValue(new Decoder(fromHex(bytes)))),
        bytes,
      ).toBe('MalformedPayload');
    }
  });

  it('orders strings by code point, which is UTF-8 byte order (seeded)', () => {
    fc.assert(
      fc.property(textArb, textArb, (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { seed: 0xc0de, numRuns: 2000 },
    );
    expect(compareCodePoints('\uE000', '\u{10000}')).toBeLessThan(0);
    expect('\uE000' < '\u{10000}').toBe(false); // what UTF-16 order would say
  });
});

describe('value codec: what it refuses, and its bounds', () => {
  it('refuses non-values with Unencodable, naming the part', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const bad: unknown[] = [
      undefined,
      () => 1,
      Symbol('s'),
      new Date(0),
      new Map(),
      { a: undefined },
      [1, , 3], // eslint-disable-line no-sparse-arrays
      '\ud800',
      { '\udc00': 1 },
      cyclic,
      1n << 8192n,
      -(1n << 8192n) - 1n,
      new Float64Array(1),
    ];
    for (const value of bad) {
      expect(
        refusalCode(() => exactValueBytes(value as Value)),
        String(typeof value),
      ).toBe('Unencodable');
      expect(
        refusalCode(() => canonicalValueBytes(value as Value)),
        String(typeof value),
      ).toBe('Unencodable');
    }
    expect(refusalCode(() => exactValueBytes(NaN))).toBe('none');
    expect(() => exactValueBytes({ tags: ['a', '\ud800'] })).toThrow(/value\.tags\[1\] is a string with a lone surrogate at index 0/);
  });

  it('refuses every string with a lone surrogate, as a value and as a key (seeded)', () => {
    fc.assert(
      fc.property(illFormedTextArb, (text) => {
        expect(refusalCode(() => exactValueBytes(text))).toBe('Unencodable');
        expect(refusalCode(() => canonicalValueBytes({ [text]: 1 }))).toBe('Unencodable');
        expect(refusalCode(() => assertStorableValue([text]))).toBe('Unencodable');
      }),
      { seed: 0x5a5, numRuns: 200 },
    );
  });

  it('nests a stored value at most MAX_VALUE_DEPTH deep, both ways', () => {
    let value: Value = 1;
    for (let i = 0; i < MAX_VALUE_DEPTH; i++) value = [value];
    const bytes = exactValueBytes(value);
    expect(refusalCode(() => decodeExactValue(new Decoder(bytes)))).toBe('none');
    expect(refusalCode(() => exactValueBytes([value]))).toBe('Unencodable');
    expect(refusalCode(() => assertStorableValue([value]))).toBe('Unencodable');
    expect(refusalCode(() => decodeExactValue(new Decoder(fromHex('0a01' + hex(bytes)))))).toBe('MalformedPayload');
    // An event (the WAL's unit) nests 64 deep: a value 61 deep inside a write's event, ops array and operation.
    expect(refusalCode(() => decodeValue(new Decoder(fromHex('0a010a010a01' + hex(bytes)))))).toBe('none');
    expect(refusalCode(() => decodeValue(new Decoder(fromHex('0a010a010a010a01' + hex(bytes)))))).toBe('MalformedPayload');
  });

  it('bounds a stored value at MAX_VALUE_BYTES with PayloadTooLarge', () => {
    expect(assertStorableValue(new Uint8Array(MAX_VALUE_BYTES - 4))).toBe(MAX_VALUE_BYTES);
    expect(refusalCode(() => assertStorableValue(new Uint8Array(MAX_VALUE_BYTES - 3)))).toBe('PayloadTooLarge');
  });

  it('the strict readers take bytes exactly when writing the value read back in that form gives them (seeded)', () => {
    // The definition of docs/PAYLOAD.md §3.2, checked the slow way: decode leniently, write again, compare.
    const byDefinition = (bytes: Uint8Array, canonical: boolean): boolean => {
      const decoder = new Decoder(bytes);
      let value: Value;
      try {
        value = decodeValue(decoder, MAX_VALUE_DEPTH);
      } catch {
        return false;
      }
      const again = canonical ? canonicalValueBytes(value) : exactValueBytes(value);
      return hex(again) === hex(bytes.subarray(0, decoder.offset));
    };
    const takes = (read: (decoder: Decoder) => unknown, bytes: Uint8Array): boolean =>
      refusalCode(() => read(new Decoder(bytes))) === 'none';
    const check = (bytes: Uint8Array) => {
      expect(takes(decodeExactValue, bytes), `exact ${hex(bytes)}`).toBe(byDefinition(bytes, false));
      expect(takes(decodeCanonicalValue, bytes), `canonical ${hex(bytes)}`).toBe(byDefinition(bytes, true));
    };
    // Values in either form, then with one byte changed or one inserted: most mutations break the form, some keep it.
    const mutated = fc
      .tuple(valueArb, fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('keep', 'set', 'insert'))
      .map(([value, canonical, at, byte, how]) => {
        const bytes = canonical ? canonicalValueBytes(value) : exactValueBytes(value);
        const i = at % (bytes.length + 1);
        if (how === 'keep') return bytes;
        if (how === 'set') return i < bytes.length ? Uint8Array.from(bytes, (b, j) => (j === i ? byte : b)) : bytes;
        return Uint8Array.from([...bytes.subarray(0, i), byte, ...bytes.subarray(i)]);
      });
    fc.assert(fc.property(mutated, check), { seed: 0x5717c7, numRuns: 3000 });
    const cases = [
      '0b02' + '01318001308081', // {"1": 0, "0": 1}: integer-like keys out of Object.keys order
      '0b02' + '01308001318081', // {"0": 0, "1": 1}
      '0b02' + '016180' + '01318081', // {a: 0, "1": 1}: Object.keys puts "1" first
      '0b02' + '01318081' + '016180', // {"1": 1, a: 0}
      '04ffffffffffffff0f', // -2^53 with the negative-integer tag (the encoder writes an f64)
      '04feffffffffffff0f', // -2^53 + 1
      '050000000000000080', // -0 as an f64: the exact form's, not the canonical one's
      '08816100', // "a" with a two-byte length
      '0b0181000080', // a key with a two-byte length
      '0a810081', // an array count in two bytes
      '098100', // bytes with a two-byte length
      '068100', // 1n in two bytes
      '0600', // 0n
      '0780', // a truncated bigint
      '050000000000001040', // 4 as an f64
      '050000000000004043', // 2^53 as an f64
    ];
    for (const bytes of cases) check(fromHex(bytes));
  });

  it('never fails on random bytes with anything but a TidalError (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const read of [decodeValue, decodeExactValue, decodeCanonicalValue]) {
          try {
            read(new Decoder(bytes));
          } catch (error) {
            expect(isTidalError(error)).toBe(true);
          }
        }
      }),
      { seed: 0xbad, numRuns: 2000 },
    );
  });
});

describe('value codec: strings', () => {
  it('keeps a leading U+FEFF through both forms and the string readers', () => {
    for (const text of ['\uFEFF', '\uFEFFa', `\uFEFF${'x'.repeat(40)}`, 'a\uFEFF']) {
      expect(decodeValue(new Decoder(exactValueBytes(text)))).toBe(text);
      expect(decodeCanonicalValue(new Decoder(canonicalValueBytes({ [text]: text }))).value).toEqual({ [text]: text });
    }
  });

  it('writes strings byte for byte as Encoder.writeString does, fast path or not (seeded)', () => {
    const check = (text: string) => {
      const a = new Encoder(1);
      const b = new Encoder(1);
      writeUtf8(a, text);
      b.writeString(text);
      expect(hex(a.toBytes())).toBe(hex(b.toBytes()));
      expect(readUtf8(new Decoder(a.toBytes()))).toBe(text);
    };
    for (const text of ['', 'a', 'x'.repeat(127), 'x'.repeat(128), 'é', `${'x'.repeat(63)}é`, '\u007f', '\u0080', '\uFEFF']) check(text);
    fc.assert(fc.property(textArb, check), { seed: 0x57, numRuns: 300 });
  });
});

describe('isWellFormedString', () => {
  /** A lone surrogate is a high one not followed by a low one, or a low one not preceded by a high one. */
  const reference = (text: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
  const padded = fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 80 })).map(([a, b]) => ['x'.repeat(a), 'é'.repeat(b)] as const);

  it('answers as the reference for short and long strings, with and without surrogates, lone or paired (seeded)', () => {
    for (const text of [
      '',
      'item-1',
      '😀',
      '\uD800',
      '\uDC00',
      '\uDC00\uD800',
      `${'x'.repeat(64)}\uD800`,
      `${'x'.repeat(63)}\uD800`,
      `\uDFFF${'x'.repeat(70)}`,
    ])
      expect(isWellFormedString(text), JSON.stringify(text)).toBe(reference(text));
    fc.assert(
      fc.property(fc.oneof(textArb, illFormedTextArb), padded, (text, [a, b]) => {
        for (const whole of [text, a + text, text + b, a + text + b]) expect(isWellFormedString(whole)).toBe(reference(whole));
      }),
      { seed: 0x3f, numRuns: 500 },
    );
  });
});

describe('value codec: the CRDT state of version 1 still decodes', () => {
  it('reads the old canonical value bytes (tag 3 small integers, code-unit key order) as the same values', () => {
    const f64 = (x: number) => hex(new Uint8Array(new Float64Array([x]).buffer));
    const old: [string, Value][] = [
      ['0300', 0],
      ['03ac02', 300],
      ['0400', -1],
      [`05${f64(1.5)}`, 1.5],
      ['050000000000000080', -0],
      ['0605', 5n],
      ['0780 01'.replace(' ', ''), -129n],
      ['080368c3a9', 'hé'],
      ['09020102', new Uint8Array([1, 2])],
      ['0a020200', [true, null]],
      ['0b0201610801780162 0301'.replace(' ', ''), { a: 'x', b: 1 }],
    ];
    for (const [bytes, value] of old) expect(shape(decodeValue(new Decoder(fromHex(bytes)))), bytes).toEqual(shape(value));
  });
});
