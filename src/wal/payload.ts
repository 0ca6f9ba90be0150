/**
 * The event payload encoding (docs/PAYLOAD.md §1): how the events of one
 * WAL batch become bytes. A payload is a version byte, then the events back
 * to back, each a value in the exact form of the one value codec
 * (`src/common/value.ts`). The event count is not in the payload; it comes
 * from the batch header and is passed to `decodePayload`.
 *
 *     const payload = encodePayload([{ op: 'inc', key: 'a', by: 2 }, 'ping']);
 *     decodePayload(payload, 2); // [{ op: 'inc', key: 'a', by: 2 }, 'ping']
 *
 * Encoding sits on the append hot path: one scratch encoder is reused
 * between batches. Decoding reads untrusted bytes (a file, a peer): every
 * failure is a `TidalError`, and nesting is bounded by `MAX_PAYLOAD_DEPTH`.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { EncodeFailure, MAX_EVENT_DEPTH, decodeValue, toTidalError, writeEmbeddedValue, type Value } from '../common/value.js';

// An event is a value; formats that embed events (the WAL's group commit, sync) encode them with the codec's own functions.
export { decodeValue, encodeValue } from '../common/value.js';
export type { Value } from '../common/value.js';

/** The payload encoding's version, written as the first byte of every payload. */
export const PAYLOAD_VERSION = 1;

/** How deep arrays and objects may nest in an event: an event that is a container is at depth 1. */
export const MAX_PAYLOAD_DEPTH = MAX_EVENT_DEPTH;

/** Scratch encoders larger than this are not kept between batches. */
const MAX_RETAINED_SCRATCH = 1 << 20;

let scratchEncoder: Encoder | null = null;

/**
 * Encodes a batch's events as a payload: the version byte, then each event.
 * Throws `TidalError('Unencodable')` naming the refused part's path (e.g.
 * `events[3].tags[2]`) for what docs/PAYLOAD.md §4 lists; nothing is
 * returned then.
 */
export function encodePayload(events: readonly Value[]): Uint8Array {
  if (!Array.isArray(events)) {
    throw new TidalError('InvalidArgument', `events must be an array, got ${describeType(events)}`);
  }
  // Taken out of the slot while in use, so a re-entrant call (a getter that
  // encodes) gets its own encoder.
  const encoder = scratchEncoder ?? new Encoder(4096);
  scratchEncoder = null;
  // `length` is the encoder's write position; rewinding it reuses the buffer.
  encoder.length = 0;
  try {
    encoder.writeU8(PAYLOAD_VERSION);
    const count = events.length;
    let index = 0;
    try {
      for (; index < count; index++) {
        const event = events[index];
        if (event === undefined && !(index in events)) {
          throw new EncodeFailure('is a hole in a sparse array; pass a dense array of events');
        }
        writeEmbeddedValue(encoder, event as Value, MAX_PAYLOAD_DEPTH);
      }
    } catch (error) {
      if (error instanceof EncodeFailure) {
        error.steps.push(index);
        error.containers.push(events);
        throw toTidalError(error, 'events');
      }
      throw error;
    }
    return encoder.toBytes();
  } finally {
    if (encoder.length <= MAX_RETAINED_SCRATCH) scratchEncoder = encoder;
  }
}

/**
 * Decodes a payload that holds exactly `expectedCount` events (the batch
 * header's count). Refuses, with a `TidalError`: an unknown version
 * (`UnsupportedVersion`), bytes that end early (`Truncated`), lengths past
 * the end or past a bound (`LengthOutOfBounds`), anything else malformed,
 * including bytes left after the last event (`MalformedPayload`).
 * Byte strings are decoded as copies, never views into `bytes`.
 */
export function decodePayload(bytes: Uint8Array, expectedCount: number): Value[] {
  const decoder = openPayload(bytes, expectedCount);
  const events: Value[] = [];
  for (let index = 0; index < expectedCount; index++) {
    assertEventFollows(decoder, index, expectedCount);
    events.push(decodeValue(decoder, MAX_PAYLOAD_DEPTH));
  }
  assertPayloadEnd(decoder, expectedCount);
  return events;
}

/**
 * A decoder at the first event of payload `bytes`, after `decodePayload`'s
 * checks of its arguments and version byte (the same refusals). For readers
 * that decode a payload's events their own way (session/log-event-read.ts),
 * with `assertEventFollows` before each event and `assertPayloadEnd` after.
 */
export function openPayload(bytes: Uint8Array, expectedCount: number): Decoder {
  if (!(bytes instanceof Uint8Array)) {
    throw new TidalError('InvalidArgument', `payload must be a Uint8Array, got ${describeType(bytes)}`);
  }
  if (!Number.isSafeInteger(expectedCount) || expectedCount < 0) {
    throw new TidalError('InvalidArgument', `expected event count must be a non-negative integer, got ${String(expectedCount)}`);
  }
  if (bytes.length === 0) {
    throw new TidalError('Truncated', 'payload is empty; it must start with its version byte');
  }
  const version = bytes[0]!;
  if (version !== PAYLOAD_VERSION) {
    throw new TidalError(
      'UnsupportedVersion',
      `payload version ${version} is not supported (this build reads version ${PAYLOAD_VERSION}); it was probably written by a newer tidal`,
      { details: { version } },
    );
  }
  const decoder = new Decoder(bytes);
  decoder.offset = 1;
  return decoder;
}

/** Throws `Truncated` when the payload ends before its event `index` (of `expectedCount`). */
export function assertEventFollows(decoder: Decoder, index: number, expectedCount: number): void {
  if (decoder.remaining === 0) {
    throw new TidalError('Truncated', `payload of ${decoder.bytes.length} bytes ends after ${index} of its ${expectedCount} events`, {
      details: { decoded: index, expectedCount },
    });
  }
}

/** Throws `MalformedPayload` when bytes are left after the payload's last event. */
export function assertPayloadEnd(decoder: Decoder, expectedCount: number): void {
  if (decoder.remaining !== 0) {
    throw new TidalError(
      'MalformedPayload',
      `payload has ${decoder.remaining} bytes left after its ${expectedCount} events (at offset ${decoder.offset}): more events than the header counts, or garbage`,
      { details: { offset: decoder.offset, trailing: decoder.remaining } },
    );
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const ctor: unknown = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : 'object';
}
