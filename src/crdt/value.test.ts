import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from '../common/bytes.js';
import { isTidalError } from '../common/errors.js';
import { crdtValueArb } from './arbitraries.test-support.js';
import { canonicalValueBytes, decodeCanonicalValue, readUtf8, writeUtf8, type CrdtValue } from './value.js';

function decode(bytes: Uint8Array): CrdtValue {
  const dec = new Decoder(bytes);
  const value = decodeCanonicalValue(dec);
  expect(dec.remaining).toBe(0);
  return value;
}

describe('canonical value encoding', () => {
  it('writes the documented bytes for each kind of value', () => {
    const f64 = (x: number) => [...new Uint8Array(new Float64Array([x]).buffer)];
    const cases: [CrdtValue, number[]][] = [
      [null, [0]],
      [false, [1]],
      [true, [2]],
      [0, [3, 0]],
      [300, [3, 0xac, 0x02]],
      [-1, [4, 0]],
      [-300, [4, 0xab, 0x02]],
      [1.5, [5, ...f64(1.5)]],
      [-0, [5, 0, 0, 0, 0, 0, 0, 0, 0x80]],
      [2 ** 53, [5, ...f64(2 ** 53)]],
      [5n, [6, 5]],
      [-1n, [7, 0]],
      [-129n, [7, 0x80, 0x01]],
      ['hé', [8, 3, 0x68, 0xc3, 0xa9]],
      [new Uint8Array([1, 2]), [9, 2, 1, 2]],
      [
        [true, null],
        [10, 2, 2, 0],
      ],
      [{ b: 1, a: 'x' }, [11, 2, 1, 0x61, 8, 1, 0x78, 1, 0x62, 3, 1]],
    ];
    for (const [value, bytes] of cases) {
      expect([...canonicalValueBytes(value)], String(value)).toEqual(bytes);
      expect(decode(new Uint8Array(bytes))).toEqual(value);
    }
  });

  it('gives equal values identical bytes whatever the key order', () => {
    expect(canonicalValueBytes({ a: 1, b: [{ y: 2, x: 1 }] })).toEqual(canonicalValueBytes({ b: [{ x: 1, y: 2 }], a: 1 }));
  });

  it('round-trips random values, and re-encodes them to the same bytes (seeded)', () => {
    fc.assert(
      fc.property(crdtValueArb, (value) => {
        const bytes = canonicalValueBytes(value);
        const back = decode(bytes);
        expect(back).toEqual(value);
        expect(canonicalValueBytes(back)).toEqual(bytes);
      }),
      { seed: 0xc0de, numRuns: 400 },
    );
  });

  it('keeps a "__proto__" key as data', () => {
    const value = JSON.parse('{"__proto__": 1, "a": 2}') as CrdtValue;
    const back = decode(canonicalValueBytes(value)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
  });

  it('refuses what is not a CRDT value with Unencodable', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const bad: unknown[] = [
      undefined,
      () => 1,
      Symbol('s'),
      NaN,
      Infinity,
      new Date(0),
      new Map(),
      { a: undefined },
      [1, , 3], // eslint-disable-line no-sparse-arrays
      '\ud800',
      { '\udc00': 1 },
      cyclic,
      1n << 8000n,
    ];
    for (const value of bad) {
      expect(() => canonicalValueBytes(value as CrdtValue), String(typeof value)).toThrow(expect.objectContaining({ code: 'Unencodable' }));
    }
  });

  it('refuses non-canonical and malformed encodings with a code', () => {
    const f64 = (x: number) => [...new Uint8Array(new Float64Array([x]).buffer)];
    const cases: [number[], string][] = [
      [[5, ...f64(3)], 'MalformedPayload'], // an integer written as a float
      [[5, ...f64(NaN)], 'MalformedPayload'],
      [[5, ...f64(Infinity)], 'MalformedPayload'],
      [[11, 2, 1, 0x62, 0, 1, 0x61, 0], 'MalformedPayload'], // keys out of order
      [[11, 2, 1, 0x61, 0, 1, 0x61, 0], 'MalformedPayload'], // a repeated key
      [[12], 'MalformedPayload'], // unknown tag
      [[8, 2, 0xc3, 0x28], 'MalformedPayload'], // invalid UTF-8
      [[10, 100, 0], 'LengthOutOfBounds'], // more items than bytes
      [[9, 5, 1, 2], 'LengthOutOfBounds'],
      [[3, 0x80], 'Truncated'],
      [[], 'Truncated'],
      [[...new Array<number[]>(70).fill([10, 1]).flat(), 0], 'MalformedPayload'], // nested too deep
    ];
    for (const [bytes, code] of cases) {
      expect(() => decode(new Uint8Array(bytes)), JSON.stringify(bytes)).toThrow(expect.objectContaining({ code }));
    }
  });

  it('never fails on random bytes with anything but a TidalError (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCanonicalValue(new Decoder(bytes));
        } catch (error) {
          expect(isTidalError(error)).toBe(true);
        }
      }),
      { seed: 0xbad, numRuns: 2000 },
    );
  });

  it('copies byte strings out of the buffer it decodes', () => {
    const bytes = canonicalValueBytes(new Uint8Array([7, 8]));
    const value = decode(bytes) as Uint8Array;
    bytes.fill(0);
    expect([...value]).toEqual([7, 8]);
  });

  it('writes strings byte for byte as Encoder.writeString does, fast path or not (seeded)', () => {
    const check = (text: string) => {
      const a = new Encoder(1);
      const b = new Encoder(1);
      writeUtf8(a, text);
      b.writeString(text);
      expect(a.toBytes()).toEqual(b.toBytes());
    };
    for (const text of ['', 'a', 'x'.repeat(64), 'x'.repeat(65), 'é', `${'x'.repeat(63)}é`, '\u007f', '\u0080']) check(text);
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), check), { seed: 0x57, numRuns: 300 });
  });

  it('reads short ASCII and longer UTF-8 strings alike', () => {
    const enc = new Encoder();
    const texts = ['', 'tab-a', 'é', 'x'.repeat(64), 'y'.repeat(65), '日本語'.repeat(30)];
    for (const t of texts) enc.writeString(t);
    const dec = new Decoder(enc.toBytes());
    for (const t of texts) expect(readUtf8(dec)).toBe(t);
  });
});
