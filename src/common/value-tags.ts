/**
 * The value codec's tag table (docs/PAYLOAD.md §2) and the bounds its writer
 * (value-codec.ts) and readers (value-read.ts, value-skip.ts) share.
 */
import { MAX_BIGINT_BITS } from './value-bounds.js';

/** @internal The tags. */
export const TAG_NULL = 0x00;
export const TAG_FALSE = 0x01;
export const TAG_TRUE = 0x02;
export const TAG_UINT = 0x03;
export const TAG_NEGINT = 0x04;
export const TAG_F64 = 0x05;
export const TAG_BIGINT = 0x06;
export const TAG_NEGBIGINT = 0x07;
export const TAG_STRING = 0x08;
export const TAG_BYTES = 0x09;
export const TAG_ARRAY = 0x0a;
export const TAG_OBJECT = 0x0b;
/** Tags 0x80..0xFF are the integers 0..127, held in the tag itself. */
export const TAG_SMALL_INT = 0x80;

/** @internal */
export const BIGINT_LIMIT = 1n << BigInt(MAX_BIGINT_BITS);
/** @internal */
export const MAX_BIGINT_BYTES = Math.ceil(MAX_BIGINT_BITS / 7);

/** The one NaN the codec writes (the quiet NaN JavaScript engines produce); any NaN bits decode to `NaN`. */
/** @internal */
export const CANONICAL_NAN = new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);
