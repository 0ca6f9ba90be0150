/**
 * A WAL batch's payload read straight into the log events a `ShardState`
 * applies: what `decodePayload` then `asLogEvent` on each event give, the
 * same events and the same refusals, without the generic `Value` object in
 * between. A replay (leader-recovery.ts) reads every event of the log after
 * the snapshot this way.
 *
 *     const read = readLogEvents(batch.payload, batch.header.eventCount, skip);
 *     read.events.forEach((event, i) => state.applyEvent(batch.firstLsn + skip + i, event));
 *     if (read.refused) throw read.refused; // event `skip + events.length` was not a valid log event
 *
 * A write event of the form the leader logs (write-event-codec.ts: version 2,
 * its fields in the order it writes them) is read field by field from the
 * bytes: field names compared where they lie, the operations block read as
 * a view (not a copy) and decoded as `asWriteEvent` decodes it. Any other
 * event (version 1, an import), or one the direct reading does not take
 * whole, is read the general way, `decodeValue` then `asLogEvent`, from
 * where it starts, so an event refused is refused by the general path, with
 * its code and message.
 */
import type { Decoder } from '../common/bytes.js';
import { readUtf8 } from '../common/utf8.js';
import { TAG_BYTES, TAG_OBJECT, TAG_SMALL_INT, TAG_STRING, TAG_UINT } from '../common/value-tags.js';
import { isHlcTimestamp } from '../crdt/hlc.js';
import { assertEventFollows, assertPayloadEnd, decodeValue, MAX_PAYLOAD_DEPTH, openPayload } from '../wal/payload.js';
import { asLogEvent, compactWriteOps, type LogEvent, type WriteEvent } from './write.js';

/** What `readLogEvents` read of a payload. */
export interface LogEventsRead {
  /** The events from the first one asked for, up to the first one refused (or to the end). */
  readonly events: LogEvent[];
  /** Why the event after `events` is not a valid log event (what `asLogEvent` threw), if one is not. */
  readonly refused?: unknown;
}

/** A field name as the value codec writes it: its length (below 128) and its ASCII bytes. */
function fieldName(name: string): Uint8Array {
  return Uint8Array.from([name.length, ...Array.from(name, (c) => c.charCodeAt(0))]);
}

/** How a logged write event starts after its entry count: `t: 'write'`, `v: 2`, and the session's name and 32-byte string head. */
const WRITE_V2_HEAD = Uint8Array.from([
  ...fieldName('t'),
  TAG_STRING,
  5,
  ...Array.from('write', (c) => c.charCodeAt(0)),
  ...fieldName('v'),
  TAG_SMALL_INT + 2,
  ...fieldName('session'),
  TAG_STRING,
  32,
]);
const STARTED_AT = fieldName('startedAt');
const SEQ = fieldName('seq');
const ACKED = fieldName('acked');
const AT = fieldName('at');
const KEY = fieldName('key');
const REPLICA = fieldName('replica');
const HLC = fieldName('hlc');
const OPS = fieldName('ops');

/**
 * The events of payload `bytes` (of `expectedCount` events) from index
 * `from` on, as log events. Throws what `decodePayload` throws for a
 * payload that is not well-formed (before any event is returned); an event
 * that is well-formed but not a valid log event ends `events`, and what
 * `asLogEvent` threw for it is `refused` (events before `from` are read,
 * not checked, as a replay that starts inside a batch does).
 */
export function readLogEvents(bytes: Uint8Array, expectedCount: number, from = 0): LogEventsRead {
  const decoder = openPayload(bytes, expectedCount);
  const events: LogEvent[] = [];
  let refused: unknown;
  let checking = true;
  for (let index = 0; index < expectedCount; index++) {
    assertEventFollows(decoder, index, expectedCount);
    const start = decoder.offset;
    if (index >= from && checking) {
      const direct = readWriteV2(decoder);
      if (direct !== undefined) {
        events.push(direct);
        continue;
      }
      decoder.offset = start;
      const value = decodeValue(decoder, MAX_PAYLOAD_DEPTH);
      try {
        events.push(asLogEvent(value));
      } catch (error) {
        refused = error;
        checking = false;
      }
    } else {
      decodeValue(decoder, MAX_PAYLOAD_DEPTH);
    }
  }
  assertPayloadEnd(decoder, expectedCount);
  return checking ? { events } : { events, refused };
}

/**
 * The write event at the decoder's position if it is a version-2 write of
 * the leader's field order that `asWriteEvent` takes, the decoder then past
 * it; otherwise `undefined` (the decoder anywhere: the caller rewinds).
 */
function readWriteV2(decoder: Decoder): WriteEvent | undefined {
  try {
    const bytes = decoder.bytes;
    let at = decoder.offset;
    if (bytes[at] !== TAG_OBJECT) return undefined;
    const entries = bytes[at + 1];
    if (entries !== 10 && entries !== 11) return undefined;
    at += 2;
    if (!matches(bytes, at, WRITE_V2_HEAD)) return undefined;
    at += WRITE_V2_HEAD.length;
    const session = hexString(bytes, at);
    if (session === undefined) return undefined;
    decoder.offset = at + 32;
    const startedAt = countField(decoder, STARTED_AT, 0);
    const seq = countField(decoder, SEQ, 1);
    const acked = countField(decoder, ACKED, 0);
    const eventAt = countField(decoder, AT, 0);
    if (startedAt < 0 || seq < 0 || acked < 0 || eventAt < 0) return undefined;
    let key: string | undefined;
    if (entries === 11) {
      key = stringField(decoder, KEY);
      if (key === undefined) return undefined;
    }
    const replica = stringField(decoder, REPLICA);
    if (replica === undefined || !field(decoder, HLC)) return undefined;
    const hlc = decodeValue(decoder, MAX_PAYLOAD_DEPTH);
    if (!isHlcTimestamp(hlc) || !field(decoder, OPS) || bytes[decoder.offset] !== TAG_BYTES) return undefined;
    decoder.offset++;
    const length = decoder.readVarUint();
    if (length > decoder.remaining) return undefined;
    const blockAt = decoder.offset;
    decoder.offset = blockAt + length;
    // A view: the operations decoded from it hold strings and copies, nothing of the payload's buffer.
    const ops = compactWriteOps(bytes.subarray(blockAt, blockAt + length), replica, hlc);
    return key === undefined
      ? { t: 'write', session, startedAt, seq, acked, at: eventAt, ops }
      : { t: 'write', session, startedAt, seq, acked, at: eventAt, key, ops };
  } catch {
    return undefined; // the general path refuses it, with its own code and message
  }
}

/** True when `expected` lies in `bytes` at `at`. */
function matches(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/** Steps over field name `name` if it is the one at the decoder's position. */
function field(decoder: Decoder, name: Uint8Array): boolean {
  if (!matches(decoder.bytes, decoder.offset, name)) return false;
  decoder.offset += name.length;
  return true;
}

/** The 32 lower-case hex digits at `at`, as a string; `undefined` if they are not. */
function hexString(bytes: Uint8Array, at: number): string | undefined {
  if (at + 32 > bytes.length) return undefined;
  for (let i = at; i < at + 32; i++) {
    const byte = bytes[i]!;
    if (!((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66))) return undefined;
  }
  return String.fromCharCode.apply(null, bytes.subarray(at, at + 32) as unknown as number[]);
}

/** Field `name`, an integer of at least `min` (what `isCount` takes); -1 if it is not. */
function countField(decoder: Decoder, name: Uint8Array, min: number): number {
  if (!field(decoder, name)) return -1;
  const tag = decoder.readU8();
  const value = tag >= TAG_SMALL_INT ? tag - TAG_SMALL_INT : tag === TAG_UINT ? decoder.readVarUint() : -1;
  return value >= min ? value : -1;
}

/** Field `name`, a string; `undefined` if it is not. */
function stringField(decoder: Decoder, name: Uint8Array): string | undefined {
  if (!field(decoder, name) || decoder.readU8() !== TAG_STRING) return undefined;
  return readUtf8(decoder);
}
