/**
 * How a write event is logged (docs/WRITE-EVENTS.md). A `WriteEvent` is
 * logged as one WAL event (a payload `Value`), in one of two forms:
 *
 * - **version 1**: the event object as it is, every operation an object
 *   spelling its field names, key, name, replica and 64-bit HLC (about 190
 *   log bytes for one `increment('item-123', 'click', 1)`);
 * - **version 2** (written since): the event's fields, with the leader
 *   `replica` and a base `hlc` said once, and the operations as one
 *   compact block of bytes: a string table (every key, counter kind,
 *   field or set name and string value of the event, once, front-coded
 *   against the string before it), then per operation a head byte and
 *   indexes into the table, the step or value, and the HLC as a delta from
 *   the operation before (usually 1). A tick's merged writes, or a
 *   transaction's part, are one event, so what is said once per event is
 *   said once per batch.
 *
 *     wal.append([encodeWriteEvent(event)]);       // version 2
 *     const event = asWriteEvent(logged);          // either version, checked
 *
 * Reading checks everything (lengths against the bytes left, indexes
 * against the table, each operation with `validateOperation`) and fails
 * with `MalformedPayload`: logs and peers are untrusted.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { ASCII_FAST_PATH_MAX, asciiString } from '../common/utf8.js';
import type { CrdtOperation } from '../crdt/operation.js';
import { decodeValue, encodeValue, type Value } from '../wal/payload.js';
import { OPS_BLOCK_V3, decodeOpsBlockV3 } from './ops-block-v3.js';
import type { WriteEvent } from './write.js';

/** The version of the operations block a version-2 event carries (its first byte). */
export const OPS_BLOCK_VERSION = 2;

const OPCODES = ['increment', 'decrement', 'set', 'add'] as const;
const HEAD_OPCODE = 0b0000_0011;
/** The value (set) or member (add) is a string of the table. */
const HEAD_STRING_VALUE = 0b0000_0100;
/** The operation has an HLC (a delta from the one before it). */
const HEAD_HLC = 0b0000_1000;
const HEAD_KNOWN = HEAD_OPCODE | HEAD_STRING_VALUE | HEAD_HLC;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reused between events (the leader encodes on its hot path). */
const scratch = new Encoder(1 << 16);
const MAX_RETAINED_SCRATCH = 1 << 22;

/**
 * The logged form of `event`: version 2 for two operations or more. An
 * event of one operation, or whose operations do not share one replica,
 * or whose HLCs go backwards, keeps the version-1 form
 * (the leader never writes such a one; the fallback keeps every event
 * loggable).
 */
export function encodeWriteEvent(event: WriteEvent): Value {
  const ops = event.ops;
  // One operation: version 2 saves about a tenth of the bytes and reads slower (table, block), so keep 1.
  if (ops.length < 2) return event as unknown as Value;
  const replica = ops[0]?.replica;
  let previousHlc: bigint | undefined;
  for (const op of ops) {
    if (op.replica !== replica) return event as unknown as Value;
    if (op.hlc !== undefined) {
      if (previousHlc !== undefined && op.hlc < previousHlc) return event as unknown as Value;
      previousHlc = op.hlc;
    }
  }
  const baseHlc = ops.find((op) => op.hlc !== undefined)?.hlc ?? 0n;
  const logged: Record<string, Value> = {
    t: 'write',
    v: 2,
    session: event.session,
    startedAt: event.startedAt,
    seq: event.seq,
    acked: event.acked,
    at: event.at,
  };
  if (event.key !== undefined) logged['key'] = event.key;
  logged['replica'] = replica ?? '';
  logged['hlc'] = baseHlc;
  logged['ops'] = encodeOpsBlock(ops, baseHlc);
  return logged;
}

/**
 * The logged form of a write whose operations are the version-3 `block`
 * (as its writer encoded them), stamped `replica` and HLCs `hlc + i`: the
 * leader logs the writer's block as it came, without decoding and
 * encoding it again.
 */
export function writeEventWithBlock(event: Omit<WriteEvent, 'ops'>, replica: string, hlc: bigint, block: Uint8Array): Value {
  const logged: Record<string, Value> = {
    t: 'write',
    v: 2,
    session: event.session,
    startedAt: event.startedAt,
    seq: event.seq,
    acked: event.acked,
    at: event.at,
  };
  if (event.key !== undefined) logged['key'] = event.key;
  logged['replica'] = replica;
  logged['hlc'] = hlc;
  logged['ops'] = block;
  return logged;
}

/** The operations block: version, string table, operations. */
function encodeOpsBlock(ops: readonly CrdtOperation[], baseHlc: bigint): Uint8Array {
  // The table in code-unit order, so that front coding finds the prefixes keys share ('item-1', 'item-12').
  const distinct = new Set<string>();
  for (const op of ops) {
    distinct.add(op.key);
    distinct.add(nameOf(op));
    const value = valueOf(op);
    if (typeof value === 'string') distinct.add(value);
  }
  const strings = [...distinct].sort();
  const table = new Map<string, number>();
  strings.forEach((text, index) => table.set(text, index));
  const encoder = scratch;
  try {
    encoder.writeU8(OPS_BLOCK_VERSION);
    encoder.writeVarUint(strings.length);
    let previous = '';
    for (const text of strings) {
      let shared = commonPrefix(previous, text);
      // Never split a surrogate pair between the shared prefix and the suffix.
      if (shared > 0 && isHighSurrogate(text.charCodeAt(shared - 1))) shared--;
      encoder.writeVarUint(shared);
      encoder.writeBytes(utf8.encode(text.slice(shared)));
      previous = text;
    }
    encoder.writeVarUint(ops.length);
    let previousHlc = baseHlc;
    for (const op of ops) {
      const value = valueOf(op);
      const stringValue = typeof value === 'string';
      let head = OPCODES.indexOf(op.op);
      if (stringValue) head |= HEAD_STRING_VALUE;
      if (op.hlc !== undefined) head |= HEAD_HLC;
      encoder.writeU8(head);
      encoder.writeVarUint(table.get(op.key)!);
      encoder.writeVarUint(table.get(nameOf(op))!);
      if (op.op === 'increment' || op.op === 'decrement') encoder.writeVarUint(op.by);
      else if (stringValue) encoder.writeVarUint(table.get(value)!);
      else encodeValue(encoder, value as Value);
      if (op.hlc !== undefined) {
        encoder.writeVarBigUint(op.hlc - previousHlc);
        previousHlc = op.hlc;
      }
    }
    return encoder.toBytes();
  } finally {
    if (encoder.bytesView().byteLength > MAX_RETAINED_SCRATCH) scratch.reset();
    encoder.reset();
  }
}

/**
 * The operations of a version-2 event's block, each stamped with
 * `replica` and its HLC. Throws `MalformedPayload` (or the decoder's
 * `Truncated` / `LengthOutOfBounds`) for anything that is not a
 * well-formed block; operations are checked by the caller.
 */
export function decodeOpsBlock(block: Uint8Array, replica: string, baseHlc: bigint): CrdtOperation[] {
  if (block[0] === OPS_BLOCK_V3) return decodeOpsBlockV3(block, { replica, hlc: baseHlc });
  const decoder = new Decoder(block);
  const version = decoder.readU8();
  if (version !== OPS_BLOCK_VERSION) {
    throw new TidalError(
      'UnsupportedVersion',
      `write operations block version ${version}; this build reads ${OPS_BLOCK_VERSION} and ${OPS_BLOCK_V3}`,
    );
  }
  const count = decoder.readVarUint();
  if (count > decoder.remaining)
    throw new TidalError('LengthOutOfBounds', `string table claims ${count} strings, ${decoder.remaining} bytes remain`);
  const strings: string[] = [];
  let previous = '';
  for (let i = 0; i < count; i++) {
    const shared = decoder.readVarUint();
    if (shared > previous.length)
      throw new TidalError('MalformedPayload', `string ${i} shares ${shared} characters of a string of ${previous.length}`);
    const suffix = readUtf8(decoder.readBytes(), i);
    previous = shared === 0 ? suffix : previous.slice(0, shared) + suffix;
    strings.push(previous);
  }
  const string = (what: string): string => {
    const index = decoder.readVarUint();
    const text = strings[index];
    if (text === undefined) throw new TidalError('MalformedPayload', `${what} refers to string ${index} of a table of ${strings.length}`);
    return text;
  };
  const opCount = decoder.readVarUint();
  if (opCount > decoder.remaining)
    throw new TidalError('LengthOutOfBounds', `block claims ${opCount} operations, ${decoder.remaining} bytes remain`);
  const ops: CrdtOperation[] = new Array(opCount);
  let hlc = baseHlc;
  for (let i = 0; i < opCount; i++) {
    const head = decoder.readU8();
    if ((head & ~HEAD_KNOWN) !== 0) throw new TidalError('MalformedPayload', `operation ${i} has unknown head bits 0x${head.toString(16)}`);
    const op = OPCODES[head & HEAD_OPCODE]!;
    const key = string(`operation ${i}'s key`);
    const name = string(`operation ${i}'s name`);
    let stamped: Record<string, unknown>;
    if (op === 'increment' || op === 'decrement') {
      if (head & HEAD_STRING_VALUE) throw new TidalError('MalformedPayload', `counter operation ${i} has a value flag`);
      stamped = { op, key, kind: name, by: decoder.readVarUint(), replica };
    } else {
      const value: Value = head & HEAD_STRING_VALUE ? string(`operation ${i}'s value`) : decodeValue(decoder);
      stamped = op === 'set' ? { op, key, field: name, value, replica } : { op, key, set: name, member: value, replica };
    }
    if (head & HEAD_HLC) {
      hlc += decoder.readVarBigUint(10);
      stamped['hlc'] = hlc;
    }
    ops[i] = stamped as unknown as CrdtOperation;
  }
  if (decoder.remaining !== 0) throw new TidalError('MalformedPayload', `${decoder.remaining} bytes after the last operation of the block`);
  return ops;
}

/** UTF-8 to a string; short ASCII (keys, names) without a TextDecoder call. */
function readUtf8(bytes: Uint8Array, index: number): string {
  if (bytes.length <= ASCII_FAST_PATH_MAX) {
    const ascii = asciiString(bytes, 0, bytes.length);
    if (ascii !== undefined) return ascii;
  }
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new TidalError('MalformedPayload', `string ${index} of the table is not valid UTF-8`, { cause });
  }
}

function nameOf(op: CrdtOperation): string {
  return op.op === 'set' ? op.field : op.op === 'add' ? op.set : op.kind;
}

function valueOf(op: CrdtOperation): unknown {
  return op.op === 'set' ? op.value : op.op === 'add' ? op.member : undefined;
}

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
