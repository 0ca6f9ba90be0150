import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from './bytes.js';
import { decodeValue, encodeValue, type Value } from './value.js';
import { decodeField, skipValue } from './value-skip.js';

const bytesOf = (value: Value) => {
  const encoder = new Encoder();
  encodeValue(encoder, value);
  return encoder.toBytes();
};

const values: Value[] = [
  null,
  true,
  false,
  0,
  127,
  128,
  -1,
  -(2 ** 40),
  1.5,
  -0,
  NaN,
  2n ** 70n,
  -(2n ** 70n),
  '',
  'héllo',
  'x'.repeat(300),
  new Uint8Array([1, 2, 3]),
  [],
  [1, [2, [3, 'four']], { five: 5 }],
  { t: 'write', seq: 3, hlc: 2n ** 60n, ops: new Uint8Array(40), nested: { a: [null, { b: 'c' }] } },
];

describe('skipValue and decodeField', () => {
  it('end where decodeValue ends, for every kind of value, back to back', () => {
    const encoder = new Encoder();
    for (const value of values) encodeValue(encoder, value);
    const bytes = encoder.toBytes();
    const [reading, skipping] = [new Decoder(bytes), new Decoder(bytes)];
    for (const value of values) {
      expect(decodeValue(reading)).toEqual(value);
      skipValue(skipping);
      expect(skipping.offset).toBe(reading.offset);
    }
    expect(skipping.remaining).toBe(0);
  });

  it('decodeField decodes one field of an object and skips the rest; undefined for a missing field or a non-object', () => {
    const bytes = bytesOf(values[values.length - 1]!);
    const decoder = new Decoder(bytes);
    expect(decodeField(decoder, 'nested')).toEqual({ a: [null, { b: 'c' }] });
    expect(decoder.remaining).toBe(0);
    expect(decodeField(new Decoder(bytes), 'missing')).toBeUndefined();
    const list = new Decoder(bytesOf([1, 2]));
    expect(decodeField(list, 't')).toBeUndefined();
    expect(list.remaining).toBe(0);
  });

  it('refuses what decodeValue refuses for its bounds: a truncated value, an unknown tag, a length past the end, too deep a nesting', () => {
    const whole = bytesOf({ t: 'write', body: 'x'.repeat(50) });
    expect(() => skipValue(new Decoder(whole.subarray(0, whole.length - 1)))).toThrow(
      expect.objectContaining({ code: 'LengthOutOfBounds' }),
    );
    expect(() => skipValue(new Decoder(new Uint8Array([0x0c])))).toThrow(expect.objectContaining({ code: 'MalformedPayload' }));
    expect(() => skipValue(new Decoder(new Uint8Array([0x0a])))).toThrow(expect.objectContaining({ code: 'Truncated' }));
    expect(() => skipValue(new Decoder(bytesOf([[[1]]])), 0, 2)).toThrow(expect.objectContaining({ code: 'MalformedPayload' }));
    expect(() => decodeField(new Decoder(bytesOf({ a: [[1]] })), 't', 2)).toThrow(expect.objectContaining({ code: 'MalformedPayload' }));
  });
});
