/**
 * What tidal stores, and how big and deep it may be: the `Value` and
 * `CrdtValue` types and the bounds every writer checks and every reader
 * enforces on untrusted bytes (docs/PAYLOAD.md). The codec (value.ts,
 * value-codec.ts, value-read.ts) is built on these.
 */
import type { Decoder } from './bytes.js';
import { TidalError } from './errors.js';

/** Every value tidal stores: what an event, a register or a set member can hold. */
export type Value = null | boolean | number | bigint | string | Uint8Array | Value[] | { [key: string]: Value };

/** A `Value` as CRDT state holds and hands it out: the same values, read-only. */
export type CrdtValue =
  null | boolean | number | bigint | string | Uint8Array | readonly CrdtValue[] | { readonly [name: string]: CrdtValue };

/** How deep arrays and objects may nest in a WAL event: an event that is a container is at depth 1. */
export const MAX_EVENT_DEPTH = 64;

/**
 * How deep a stored value (a register's value, a set member) may nest: a
 * value travels inside a write event, whose own structure (the event, its
 * `ops` array, the operation) takes 3 of the event's 64 levels.
 */
export const MAX_VALUE_DEPTH = MAX_EVENT_DEPTH - 3;

/** Bigints are stored as magnitude (n, or -n-1 when negative) below 2^MAX_BIGINT_BITS. */
export const MAX_BIGINT_BITS = 8192;

/** Largest exact-form encoding of one stored value, in bytes (1 MiB): it must fit a WAL batch and a shipped payload with room to spare. */
export const MAX_VALUE_BYTES = 1 << 20;

/** Reads a length or count whose items take at least `minItemBytes` each, bounded by the bytes remaining. */
export function readLength(decoder: Decoder, minItemBytes: number, what: string, unit: string): number {
  const at = decoder.offset;
  const length = decoder.readVarUint();
  if (length * minItemBytes > decoder.remaining) {
    throw new TidalError(
      'LengthOutOfBounds',
      `${what} at offset ${at} claims ${length} ${unit}, but only ${decoder.remaining} bytes remain`,
      { details: { offset: at, length, remaining: decoder.remaining } },
    );
  }
  return length;
}
