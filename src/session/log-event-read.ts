/**
 * A WAL batch's payload read straight into the log events a `ShardState`
 * applies: what `decodePayload` then `asLogEvent` on each event give, the
 * same events and the same refusals, without the generic `Value` object in
 * between. A replay (leader-recovery.ts) reads every event of the log after
 * the snapshot this way, and a follower every verified batch it receives
 * (`ShardState.prepareBatch`).
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
import { MAX_BIGINT_BYTES, TAG_BIGINT, TAG_BYTES, TAG_OBJECT, TAG_SMALL_INT, TAG_STRING, TAG_UINT } from '../common/value-tags.js';
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

/** Bytes a logged write has at a place, with their little-endian 32-bit words: compared four bytes a step. */
interface Expected {
  readonly bytes: Uint8Array;
  readonly words: readonly number[];
}

function expected(bytes: number[]): Expected {
  const array = Uint8Array.from(bytes);
  const view = new DataView(array.buffer);
  const words: number[] = [];
  for (let i = 0; i + 4 <= array.length; i += 4) words.push(view.getUint32(i, true));
  return { bytes: array, words };
}

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0));

/** A field name as the value codec writes it: its length (below 128) and its ASCII bytes. */
const fieldName = (name: string): Expected => expected([name.length, ...ascii(name)]);

/** How a logged write event starts after its entry count: `t: 'write'`, `v: 2`, and the session's name and 32-byte string head. */
const WRITE_V2_HEAD = expected([
  1,
  ...ascii('t'),
  TAG_STRING,
  5,
  ...ascii('write'),
  1,
  ...ascii('v'),
  TAG_SMALL_INT + 2,
  7,
  ...ascii('session'),
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
  const reading: Reading = {
    decoder,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    session: undefined,
    replica: undefined,
  };
  const events: LogEvent[] = [];
  let refused: unknown;
  let checking = true;
  for (let index = 0; index < expectedCount; index++) {
    assertEventFollows(decoder, index, expectedCount);
    const start = decoder.offset;
    if (index >= from && checking) {
      const direct = readWriteV2(reading);
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
 * A payload being read: its decoder, a view of its bytes for the 32-bit
 * comparisons, and the session and replica of the last write read (with
 * their bytes), which the next write most likely repeats: then the same
 * string is taken again, not a new one built (and hashed again by the maps
 * it is looked up in).
 */
interface Reading {
  readonly decoder: Decoder;
  readonly view: DataView;
  session: { readonly text: string; readonly bytes: Expected } | undefined;
  replica: { readonly text: string; readonly bytes: Expected } | undefined;
}

/**
 * The write event at the decoder's position if it is a version-2 write of
 * the leader's field order that `asWriteEvent` takes, the decoder then past
 * it; otherwise `undefined` (the decoder anywhere: the caller rewinds).
 */
function readWriteV2(reading: Reading): WriteEvent | undefined {
  try {
    const decoder = reading.decoder;
    const bytes = decoder.bytes;
    const at = decoder.offset;
    if (bytes[at] !== TAG_OBJECT || at + 2 > bytes.length) return undefined;
    const entries = bytes[at + 1];
    if (entries !== 10 && entries !== 11) return undefined;
    decoder.offset = at + 2;
    if (!field(reading, WRITE_V2_HEAD)) return undefined;
    const session = sessionId(reading);
    if (session === undefined) return undefined;
    const startedAt = countField(reading, STARTED_AT, 0);
    const seq = countField(reading, SEQ, 1);
    const acked = countField(reading, ACKED, 0);
    const eventAt = countField(reading, AT, 0);
    if (startedAt < 0 || seq < 0 || acked < 0 || eventAt < 0) return undefined;
    let key: string | undefined;
    if (entries === 11) {
      if (!field(reading, KEY) || decoder.readU8() !== TAG_STRING) return undefined;
      key = readUtf8(decoder);
    }
    if (!field(reading, REPLICA)) return undefined;
    const replica = replicaId(reading);
    if (replica === undefined || !field(reading, HLC)) return undefined;
    // An HLC is a bigint (a positive one's tag and LEB128 magnitude, read without the general reader's dispatch).
    if (decoder.readU8() !== TAG_BIGINT) return undefined;
    const hlc = decoder.readVarBigUint(MAX_BIGINT_BYTES);
    if (!isHlcTimestamp(hlc) || !field(reading, OPS) || bytes[decoder.offset] !== TAG_BYTES) return undefined;
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

/** Steps over `expected` if it lies at the decoder's position. */
function field(reading: Reading, expected: Expected): boolean {
  const { decoder, view } = reading;
  const at = decoder.offset;
  const want = expected.bytes;
  if (at + want.length > view.byteLength) return false;
  const words = expected.words;
  for (let i = 0; i < words.length; i++) if (view.getUint32(at + 4 * i, true) !== words[i]) return false;
  for (let i = 4 * words.length; i < want.length; i++) if (view.getUint8(at + i) !== want[i]) return false;
  decoder.offset = at + want.length;
  return true;
}

/** The session id's 32 lower-case hex digits at the decoder's position (the last write's string again if they are its); `undefined` if they are not. */
function sessionId(reading: Reading): string | undefined {
  if (reading.session !== undefined && field(reading, reading.session.bytes)) return reading.session.text;
  const { decoder } = reading;
  const bytes = decoder.bytes;
  const at = decoder.offset;
  if (at + 32 > bytes.length) return undefined;
  for (let i = at; i < at + 32; i++) {
    const byte = bytes[i]!;
    if (!((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66))) return undefined;
  }
  const digits = Array.from(bytes.subarray(at, at + 32));
  const text = String.fromCharCode(...digits);
  reading.session = { text, bytes: expected(digits) };
  decoder.offset = at + 32;
  return text;
}

/** The replica id string at the decoder's position (the last write's again if its bytes are the same); `undefined` if it is not a string. */
function replicaId(reading: Reading): string | undefined {
  if (reading.replica !== undefined && field(reading, reading.replica.bytes)) return reading.replica.text;
  const { decoder } = reading;
  const at = decoder.offset;
  if (decoder.readU8() !== TAG_STRING) return undefined;
  const text = readUtf8(decoder);
  // Kept to compare with the next write's when it is short ASCII (a leader's id is): its tag, length and bytes.
  if (decoder.offset - at === text.length + 2 && text.length < 0x80)
    reading.replica = { text, bytes: expected(Array.from(decoder.bytes.subarray(at, decoder.offset))) };
  return text;
}

/** Field `name`, an integer of at least `min` (what `isCount` takes); -1 if it is not. */
function countField(reading: Reading, name: Expected, min: number): number {
  if (!field(reading, name)) return -1;
  const decoder = reading.decoder;
  const tag = decoder.readU8();
  const value = tag >= TAG_SMALL_INT ? tag - TAG_SMALL_INT : tag === TAG_UINT ? decoder.readVarUint() : -1;
  return value >= min ? value : -1;
}
