/**
 * Byte encoder and decoder, after lib0: every `writeX(v)` has a matching
 * `readX()`. Variable-length unsigned integers are little-endian LEB128
 * (7 bits a byte, low group first, high bit = more follows); fixed-width
 * fields are little-endian. The decoder checks every length against its
 * buffer before reading and throws a `TidalError` (`Truncated`,
 * `LengthOutOfBounds`) instead of reading past the end.
 *
 *     const enc = new Encoder();
 *     enc.writeVarUint(300); enc.writeString('héllo');
 *     const dec = new Decoder(enc.toBytes());
 *     dec.readVarUint(); dec.readString();
 */
import { TidalError } from './errors.js';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Largest integer a `VarUint` holds: 2^53 - 1, the safe-integer range. */
const MAX_VAR_UINT_BYTES = 8; // ceil(53 / 7)

/** Bytes of the LEB128 form of `value` (a safe non-negative integer). */
function varUintLength(value: number): number {
  let length = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

/** A growable byte buffer with typed writers. */
export class Encoder {
  private buffer: Uint8Array;
  private view: DataView;
  /** Bytes written so far. Setting it lower drops what was written past it (`reset()` sets 0). */
  length = 0;

  /** An empty encoder; the buffer starts at `initialCapacity` bytes (default 256) and doubles as needed. */
  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buffer.buffer);
  }

  /** Makes room for `n` more bytes. */
  private reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Forgets everything written, keeping the buffer for reuse. */
  reset(): void {
    this.length = 0;
  }

  /** Writes one byte (0..255). */
  writeU8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** Writes a 16-bit unsigned integer, little-endian. */
  writeU16(value: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  /** Writes a 32-bit unsigned integer, little-endian. */
  writeU32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  /** Writes a 64-bit unsigned integer, little-endian. */
  writeU64(value: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, value, true);
    this.length += 8;
  }

  /** Writes an IEEE 754 double, little-endian, bit for bit (NaN payloads and -0 kept). */
  writeF64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** LEB128 unsigned integer, 0..2^53-1. */
  writeVarUint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TidalError('InvalidArgument', `VarUint must be a safe non-negative integer, got ${value}`);
    }
    this.reserve(MAX_VAR_UINT_BYTES);
    while (value > 0x7f) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  /** LEB128 unsigned integer of any size. */
  writeVarBigUint(value: bigint): void {
    if (value < 0n) throw new TidalError('InvalidArgument', `VarBigUint must be non-negative, got ${value}`);
    while (value > 0x7fn) {
      this.writeU8(Number(value & 0x7fn) | 0x80);
      value >>= 7n;
    }
    this.writeU8(Number(value));
  }

  /** Raw bytes, no length prefix. */
  writeRaw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Length-prefixed (VarUint) bytes. */
  writeBytes(bytes: Uint8Array): void {
    this.writeVarUint(bytes.length);
    this.writeRaw(bytes);
  }

  /** Length-prefixed (VarUint, in bytes) UTF-8 string. */
  writeString(text: string): void {
    this.writeStringFrom(text, 0);
  }

  /**
   * `writeString(text.slice(from))`, without making the slice: the
   * length-prefixed UTF-8 of `text` from UTF-16 unit `from` on (`from`
   * must not split a surrogate pair).
   */
  writeStringFrom(text: string, from: number): void {
    const units = text.length - from;
    // Short ASCII (keys, names, labels: most strings a write carries) is
    // copied unit by unit: a TextEncoder call and the subarray it writes
    // into cost more than the copy.
    if (units < 0x80) {
      this.reserve(1 + units * 3);
      const buffer = this.buffer;
      const at = this.length + 1;
      let i = 0;
      for (; i < units; i++) {
        const code = text.charCodeAt(from + i);
        if (code >= 0x80) break;
        buffer[at + i] = code;
      }
      if (i === units) {
        buffer[at - 1] = units;
        this.length = at + units;
        return;
      }
      // UTF-8 takes at most 3 bytes per UTF-16 unit, so a string of fewer than 43 units fits a 1-byte length.
      if (units * 3 < 0x80) {
        const { written } = textEncoder.encodeInto(from === 0 ? text : text.slice(from), buffer.subarray(at));
        buffer[at - 1] = written;
        this.length = at + written;
        return;
      }
    }
    // Longer strings are encoded in place: their UTF-8 takes `units` to
    // `3 × units` bytes, so the length prefix is written for the largest and
    // the body moved back over what it did not need (a copy within the buffer,
    // instead of a fresh array from TextEncoder.encode and a copy of it).
    const prefix = varUintLength(units * 3);
    this.reserve(prefix + units * 3);
    const at = this.length + prefix;
    const { written } = textEncoder.encodeInto(from === 0 ? text : text.slice(from), this.buffer.subarray(at));
    const needed = varUintLength(written);
    if (needed < prefix) this.buffer.copyWithin(at - prefix + needed, at, at + written);
    this.writeVarUint(written);
    this.length += written;
  }

  /** A view of the bytes written so far (valid until the next write). */
  bytesView(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  /** A copy of the bytes written so far, in a buffer of exactly that size. */
  toBytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Reads what an `Encoder` wrote, never past the end of its bytes. */
export class Decoder {
  /** The bytes being read (a view; the decoder never copies them). */
  readonly bytes: Uint8Array;
  /**
   * For the fixed-width fields, made on their first read: most decoders
   * (one per event's operations, per entity record, per message) read only
   * bytes and LEB128s, and a `DataView` per decoder was 8 % of a shard
   * worker's busy time replaying its log at open (and its garbage more).
   */
  private fixedView: DataView | undefined;
  /** Next byte to read. */
  offset = 0;

  /** A decoder reading `bytes` from offset 0. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private get view(): DataView {
    return (this.fixedView ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  private need(n: number, what: string): void {
    if (n > this.bytes.length - this.offset) throw this.truncated(n, what);
  }

  private truncated(n: number, what: string): TidalError {
    return new TidalError(
      'Truncated',
      `${what} needs ${n} bytes at offset ${this.offset}, but only ${this.bytes.length - this.offset} remain`,
      { details: { offset: this.offset, need: n } },
    );
  }

  /** Reads one byte; `Truncated` at the end. */
  readU8(): number {
    const at = this.offset;
    if (at >= this.bytes.length) throw this.truncated(1, 'u8');
    this.offset = at + 1;
    return this.bytes[at]!;
  }

  /** Reads a 16-bit unsigned integer, little-endian; `Truncated` if fewer than 2 bytes remain. */
  readU16(): number {
    this.need(2, 'u16');
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  /** Reads a 32-bit unsigned integer, little-endian; `Truncated` if fewer than 4 bytes remain. */
  readU32(): number {
    this.need(4, 'u32');
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** Reads a 64-bit unsigned integer, little-endian; `Truncated` if fewer than 8 bytes remain. */
  readU64(): bigint {
    this.need(8, 'u64');
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** Reads an IEEE 754 double, little-endian; `Truncated` if fewer than 8 bytes remain. */
  readF64(): number {
    this.need(8, 'f64');
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** Reads a LEB128 unsigned integer; `LengthOutOfBounds` above 2^53-1, `Truncated` if it runs off the end. */
  readVarUint(): number {
    const bytes = this.bytes;
    let at = this.offset;
    // One byte (below 128): most lengths, counts and small numbers, without the loop.
    if (at < bytes.length) {
      const first = bytes[at]!;
      if (first < 0x80) {
        this.offset = at + 1;
        return first;
      }
    }
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VAR_UINT_BYTES; i++) {
      if (at >= bytes.length) {
        this.offset = at;
        throw this.truncated(1, 'u8');
      }
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.offset = at;
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    this.offset = at;
    throw new TidalError('LengthOutOfBounds', `VarUint ending at offset ${this.offset} exceeds 2^53-1`);
  }

  /** Reads a LEB128 integer of at most `maxBytes` bytes (a bound on what a peer can make us build). */
  readVarBigUint(maxBytes = 1 << 16): bigint {
    // Seven bytes at a time in a number (49 bits, exact), one bigint per seven: an HLC (10 bytes) is
    // two numbers and three bigint steps, not one bigint shift and or per byte (a heap bigint each).
    let value = 0n;
    let shift = 0n;
    let i = 0;
    while (i < maxBytes) {
      let part = 0;
      let scale = 1;
      const end = Math.min(maxBytes, i + 7);
      for (; i < end; i++) {
        const byte = this.readU8();
        part += (byte & 0x7f) * scale;
        if (byte < 0x80) return shift === 0n ? BigInt(part) : value | (BigInt(part) << shift);
        scale *= 0x80;
      }
      value |= BigInt(part) << shift;
      shift += 49n;
    }
    throw new TidalError('LengthOutOfBounds', `VarBigUint ending at offset ${this.offset} is longer than ${maxBytes} bytes`);
  }

  /** A view of the next `n` bytes (no copy). */
  readRaw(n: number): Uint8Array {
    this.need(n, `${n} raw bytes`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Length-prefixed bytes, as a view into the decoder's buffer. */
  readBytes(): Uint8Array {
    const at = this.offset;
    const n = this.readVarUint();
    if (n > this.remaining) {
      throw new TidalError('LengthOutOfBounds', `byte string at offset ${at} claims ${n} bytes, ${this.remaining} remain`);
    }
    return this.readRaw(n);
  }

  /** Reads a length-prefixed UTF-8 string; `MalformedPayload` if it is not valid UTF-8. */
  readString(): string {
    const at = this.offset;
    const bytes = this.readBytes();
    try {
      return textDecoder.decode(bytes);
    } catch (cause) {
      throw new TidalError('MalformedPayload', `string at offset ${at} is not valid UTF-8`, { cause });
    }
  }
}
