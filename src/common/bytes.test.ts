import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoder, Encoder } from './bytes.js';
import { isTidalError } from './errors.js';

describe('Encoder/Decoder', () => {
  it('writes LEB128 and little-endian fixed widths exactly', () => {
    const enc = new Encoder(1);
    enc.writeVarUint(0);
    enc.writeVarUint(127);
    enc.writeVarUint(128);
    enc.writeVarUint(300);
    enc.writeU16(0x0102);
    enc.writeU32(0x01020304);
    enc.writeU64(0x0102030405060708n);
    enc.writeString('é');
    expect([...enc.toBytes()]).toEqual([
      0x00, 0x7f, 0x80, 0x01, 0xac, 0x02, 0x02, 0x01, 0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x02, 0xc3,
      0xa9,
    ]);
  });

  it('round-trips random values (seeded)', () => {
    fc.assert(
      fc.property(
        fc.maxSafeNat(),
        fc.bigInt({ min: 0n, max: 1n << 200n }),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.double(),
        fc.uint8Array({ maxLength: 300 }),
        (n, big, text, float, bytes) => {
          const enc = new Encoder(2);
          enc.writeVarUint(n);
          enc.writeVarBigUint(big);
          enc.writeString(text);
          enc.writeF64(float);
          enc.writeBytes(bytes);
          const dec = new Decoder(enc.toBytes());
          expect(dec.readVarUint()).toBe(n);
          expect(dec.readVarBigUint()).toBe(big);
          expect(dec.readString()).toBe(text);
          expect(Object.is(dec.readF64(), float)).toBe(true);
          expect(dec.readBytes()).toEqual(bytes);
          expect(dec.remaining).toBe(0);
        },
      ),
      { seed: 0x7d1, numRuns: 300 },
    );
  });

  it('refuses to read past the end, whatever the lengths claim', () => {
    const claimsMore = new Encoder();
    claimsMore.writeVarUint(1000);
    claimsMore.writeRaw(new Uint8Array(10));
    expect(() => new Decoder(claimsMore.toBytes()).readBytes()).toThrow(/LengthOutOfBounds/);
    expect(() => new Decoder(new Uint8Array([0x80, 0x80])).readVarUint()).toThrow(/Truncated/);
    expect(() => new Decoder(new Uint8Array(3)).readU32()).toThrow(/Truncated/);
    const tooBig = new Uint8Array(9).fill(0xff);
    expect(() => new Decoder(tooBig).readVarUint()).toThrow(/LengthOutOfBounds/);
    try {
      new Decoder(new Uint8Array([2, 0xc3, 0x28])).readString();
      expect.unreachable();
    } catch (error) {
      expect(isTidalError(error, 'MalformedPayload')).toBe(true);
    }
  });
});
