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

  it('reads VarBigUints at the edges of its 7-byte steps, padded ones, and bounds them by maxBytes', () => {
    for (let bits = 0n; bits <= 150n; bits++) {
      for (const big of [(1n << bits) - 1n, 1n << bits, (1n << bits) + 1n, (1n << bits) | 0x55n]) {
        if (big < 0n) continue;
        const enc = new Encoder(2);
        enc.writeVarBigUint(big);
        enc.writeU8(0xab);
        const dec = new Decoder(enc.toBytes());
        expect(dec.readVarBigUint()).toBe(big);
        expect(dec.readU8()).toBe(0xab);
      }
    }
    // An HLC of today: 48 bits of milliseconds, 16 of counter (57 bits: 9 bytes, two steps).
    const hlc = (1_764_648_000_000n << 16n) | 0x1234n;
    const enc = new Encoder(2);
    enc.writeVarBigUint(hlc);
    expect(enc.length).toBe(9);
    expect(new Decoder(enc.toBytes()).readVarBigUint(9)).toBe(hlc);
    expect(() => new Decoder(enc.toBytes()).readVarBigUint(8)).toThrow(expect.objectContaining({ code: 'LengthOutOfBounds' }));
    // Padded (non-minimal) forms read as their value; the bound counts every byte, 7 and 8 alike.
    const padded = (n: number) => new Uint8Array([...Array.from({ length: n - 1 }, () => 0x81), 0x00]);
    expect(new Decoder(padded(7)).readVarBigUint(7)).toBe(0x810204081n);
    expect(new Decoder(padded(8)).readVarBigUint(8)).toBe(0x40810204081n);
    expect(() => new Decoder(padded(8)).readVarBigUint(7)).toThrow(expect.objectContaining({ code: 'LengthOutOfBounds' }));
    expect(() => new Decoder(new Uint8Array([0x80, 0x80])).readVarBigUint()).toThrow(expect.objectContaining({ code: 'Truncated' }));
  });

  it('writes a string from an offset as the UTF-8 of its slice, at every length class (ASCII, non-ASCII, 1-, 2- and 3-byte lengths)', () => {
    const utf8 = new TextEncoder();
    const golden = (text: string) => {
      const bytes = utf8.encode(text);
      const length: number[] = [];
      for (let n = bytes.length; ; n >>= 7) {
        if (n < 0x80) {
          length.push(n);
          break;
        }
        length.push((n & 0x7f) | 0x80);
      }
      return Uint8Array.from([...length, ...bytes]);
    };
    const texts = ['', 'a', 'item-123', 'é', 'x'.repeat(42), 'é'.repeat(42), 'é'.repeat(43), 'a'.repeat(127), 'a'.repeat(128)];
    texts.push('a'.repeat(100) + '😀', '😀'.repeat(30), 'ab\u0000\u007f\u0080');
    // Long strings are encoded in place after a length prefix sized for 3 bytes a unit, then moved back over the bytes it did not need.
    texts.push('é'.repeat(50), 'a'.repeat(1024), 'a'.repeat(10_000), 'é'.repeat(10_000), 'a'.repeat(20_000), '😀'.repeat(3000));
    for (const text of texts) {
      for (const from of [0, 1, 2]) {
        if (from > text.length) continue;
        const enc = new Encoder(1);
        enc.writeStringFrom(text, from);
        const slice = text.slice(from);
        if (/^[\udc00-\udfff]/.test(slice)) continue; // from split a surrogate pair: not a call the encoder takes
        expect(enc.toBytes(), `${JSON.stringify(text.slice(0, 8))}… (${text.length}) from ${from}`).toEqual(golden(slice));
      }
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.nat(), (text, at) => {
        let from = text.length === 0 ? 0 : at % text.length;
        if (from > 0 && text.charCodeAt(from - 1) >= 0xd800 && text.charCodeAt(from - 1) <= 0xdbff) from--;
        const enc = new Encoder(2);
        enc.writeStringFrom(text, from);
        enc.writeString(text);
        const dec = new Decoder(enc.toBytes());
        expect(dec.readString()).toBe(text.slice(from));
        expect(dec.readString()).toBe(text);
        expect(dec.remaining).toBe(0);
      }),
      { seed: 0x57f, numRuns: 500 },
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
