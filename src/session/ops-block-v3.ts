/**
 * The operations block, version 3 (docs/WRITE-EVENTS.md): a write's
 * operations as the *writer* encodes them, once, on the main thread, and as
 * the leader logs them verbatim. Unlike version 2 it carries no HLC per
 * operation: the leader stamps a write's operations with consecutive HLCs
 * (`HLC.reserve`), so operation `i` has the event's `hlc` plus `i`, and the
 * block needs no rewriting between the writer's frame and the log.
 *
 * Strings (keys, names, short string values) are said once per block: the
 * first use of a string spells it (front-coded against the string spelled
 * before it), later uses name its index. The writer can so encode in one
 * pass, in the order the operations were issued.
 *
 *     const block = encodeOpsBlockV3(ops);                 // main thread, once per write
 *     const ops = decodeOpsBlockV3(block);                 // leader, on receipt: checked
 *     const stamped = decodeOpsBlockV3(block, { replica, hlc }); // replay: stamped
 *
 * Decoding checks everything an operation must be (key and name lengths,
 * well-formed strings, a positive safe step, a storable value, at most
 * `MAX_OPS_PER_WRITE` operations) and refuses with `MalformedPayload`
 * naming what was wrong: frames from other tabs and logs are untrusted.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { MAX_VALUE_BYTES, MAX_VALUE_DEPTH, decodeValue, isWellFormedString } from '../common/value.js';
import { ASCII_FAST_PATH_MAX, asciiString, asciiStringAfter } from '../common/utf8.js';
import { HLC_MAX, type HlcTimestamp } from '../crdt/hlc.js';
import { MAX_NAME_LENGTH, type CrdtOperation } from '../crdt/operation.js';
import type { Value } from '../wal/payload.js';
import type { ClientOperation } from './write.js';
import { HEAD_STRING_VALUE, MAX_TABLE_STRING, OPS_BLOCK_V3, OpsBlockV3Builder, isHighSurrogate } from './ops-block-builder.js';

export { OPS_BLOCK_V3 };

/** Most operations one block holds (`MAX_OPS_PER_WRITE`; repeated here so that the codec does not import write.ts). */
const MAX_OPS = 10_000;

const OPCODES = ['increment', 'decrement', 'set', 'add'] as const;
const HEAD_OPCODE = 0b0000_0011;
const HEAD_KNOWN = HEAD_OPCODE | HEAD_STRING_VALUE;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reused between blocks (the writer encodes on the main thread's hot path). */
let scratch = new Encoder(1 << 16);
const MAX_RETAINED_SCRATCH = 1 << 22;

/** An empty write's block (a gap filler). */
export const EMPTY_OPS_BLOCK_V3: Uint8Array = Uint8Array.of(OPS_BLOCK_V3, 0);

/**
 * The version-3 block of `ops`, operations a writer checked
 * (`validateClientOperation`); a fresh buffer of exactly its size.
 */
export function encodeOpsBlockV3(ops: readonly ClientOperation[]): Uint8Array {
  const builder = new OpsBlockV3Builder(scratch);
  try {
    for (const op of ops) {
      if (op.op === 'set') builder.set(op.key, op.field, op.value);
      else if (op.op === 'add') builder.add(op.key, op.set, op.member);
      else builder.counter(op.op, op.key, op.kind, op.by);
    }
    return builder.finish();
  } finally {
    if (scratch.bytesView().byteLength > MAX_RETAINED_SCRATCH) scratch = new Encoder(1 << 16);
    scratch.reset();
  }
}

/** What `decodeOpsBlockV3` stamps each operation with: the leader's replica, and operation 0's HLC. */
export interface OpsStamp {
  readonly replica: string;
  readonly hlc: HlcTimestamp;
}

/**
 * The operations of a version-3 block: unstamped (as the writer issued
 * them), or, given `stamp`, stamped with its replica and HLCs `hlc + i`.
 * Throws `MalformedPayload` (or `UnsupportedVersion`) naming what is wrong.
 */
export function decodeOpsBlockV3(block: Uint8Array): ClientOperation[];
export function decodeOpsBlockV3(block: Uint8Array, stamp: OpsStamp): CrdtOperation[];
export function decodeOpsBlockV3(block: Uint8Array, stamp?: OpsStamp): (ClientOperation | CrdtOperation)[] {
  try {
    return readBlock(block, stamp);
  } catch (error) {
    if (isTidalError(error, 'MalformedPayload') || isTidalError(error, 'UnsupportedVersion')) throw error;
    throw new TidalError('MalformedPayload', `operations block: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * The operations of a version-3 block, checked as `decodeOpsBlockV3` checks
 * them, each already in the stamped shape (`replica` set, `hlc` a
 * placeholder, 0) for the leader to fill in place once it stamps the write
 * (`stampWrite`): one object per operation on the leader, not an unstamped
 * one and then its stamped copy.
 */
export function decodeOpsBlockV3Stampable(block: Uint8Array, replica: string): ClientOperation[] {
  try {
    // Typed as the request holds them; each also carries `replica` and `hlc`, as a `CrdtOperation` does.
    return readBlock(block, { replica, hlc: 0n }, true) as ClientOperation[];
  } catch (error) {
    if (isTidalError(error, 'MalformedPayload') || isTidalError(error, 'UnsupportedVersion')) throw error;
    throw new TidalError('MalformedPayload', `operations block: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

function readBlock(block: Uint8Array, stamp: OpsStamp | undefined, placeholder = false): (ClientOperation | CrdtOperation)[] {
  const decoder = new Decoder(block);
  const version = decoder.readU8();
  if (version !== OPS_BLOCK_V3) {
    throw new TidalError('UnsupportedVersion', `operations block version ${version}; this reader reads ${OPS_BLOCK_V3}`);
  }
  const count = decoder.readVarUint();
  if (count > MAX_OPS) throw new TidalError('MalformedPayload', `operations block holds ${count} operations, over ${MAX_OPS}`);
  if (count * 4 > decoder.remaining)
    throw new TidalError('MalformedPayload', `operations block claims ${count} operations, ${decoder.remaining} bytes remain`);
  if (stamp && count > 0 && stamp.hlc + BigInt(count - 1) > HLC_MAX)
    throw new TidalError('MalformedPayload', `operations block of ${count} stamped from HLC ${stamp.hlc} runs past 2^64-1`);
  const strings: string[] = [];
  let previous = '';
  const readString = (what: string): string => {
    const ref = decoder.readVarUint();
    if (ref > 0) {
      const text = strings[ref - 1];
      if (text === undefined) throw new TidalError('MalformedPayload', `${what} refers to string ${ref - 1} of ${strings.length}`);
      return text;
    }
    const shared = decoder.readVarUint();
    if (shared > previous.length)
      throw new TidalError('MalformedPayload', `${what} shares ${shared} characters of a string of ${previous.length}`);
    if (shared > 0 && isHighSurrogate(previous.charCodeAt(shared - 1)))
      throw new TidalError('MalformedPayload', `${what} splits a surrogate pair`);
    const at = decoder.offset;
    const bytes = decoder.readVarUint();
    if (bytes > decoder.remaining)
      throw new TidalError('LengthOutOfBounds', `byte string at offset ${at} claims ${bytes} bytes, ${decoder.remaining} remain`);
    const start = decoder.offset;
    decoder.offset = start + bytes;
    // Short ASCII (keys, names): one string, built in one call; anything else the general way.
    let text = asciiStringAfter(previous, shared, decoder.bytes, start, start + bytes);
    if (text === undefined) {
      const suffix = readUtf8(decoder.bytes.subarray(start, start + bytes), what);
      text = shared === 0 ? suffix : previous.slice(0, shared) + suffix;
    }
    if (text.length > MAX_TABLE_STRING)
      throw new TidalError('MalformedPayload', `${what} is ${text.length} characters, over ${MAX_TABLE_STRING}`);
    strings.push(text);
    previous = text;
    return text;
  };
  const ops: (ClientOperation | CrdtOperation)[] = new Array(count);
  // Operation i's stamp, counted up one by one: a BigInt per operation (`hlc + BigInt(i)` made two).
  let hlc = stamp && !placeholder ? stamp.hlc - 1n : 0n;
  for (let i = 0; i < count; i++) {
    if (stamp && !placeholder) hlc += 1n;
    const head = decoder.readU8();
    if ((head & ~HEAD_KNOWN) !== 0) throw new TidalError('MalformedPayload', `operation ${i} has unknown head bits 0x${head.toString(16)}`);
    const op = OPCODES[head & HEAD_OPCODE]!;
    const key = readString(`operation ${i}'s key`);
    if (key.length === 0) throw new TidalError('MalformedPayload', `operation ${i}'s key is empty`);
    const name = readString(`operation ${i}'s name`);
    if (name.length === 0 || name.length > MAX_NAME_LENGTH)
      throw new TidalError('MalformedPayload', `operation ${i}'s name must be 1..${MAX_NAME_LENGTH} characters, got ${name.length}`);
    if (op === 'increment' || op === 'decrement') {
      if (head & HEAD_STRING_VALUE) throw new TidalError('MalformedPayload', `counter operation ${i} has a value flag`);
      const by = decoder.readVarUint();
      if (by === 0) throw new TidalError('MalformedPayload', `operation ${i}'s step is 0`);
      ops[i] = stamp ? { op, key, kind: name, by, replica: stamp.replica, hlc } : { op, key, kind: name, by };
      continue;
    }
    let value: Value;
    if (head & HEAD_STRING_VALUE) value = readString(`operation ${i}'s value`);
    else {
      const at = decoder.offset;
      value = decodeValue(decoder, MAX_VALUE_DEPTH);
      if (decoder.offset - at > MAX_VALUE_BYTES)
        throw new TidalError('MalformedPayload', `operation ${i}'s value takes ${decoder.offset - at} bytes, over ${MAX_VALUE_BYTES}`);
    }
    if (op === 'set') {
      ops[i] = stamp ? { op, key, field: name, value, replica: stamp.replica, hlc } : { op, key, field: name, value };
    } else {
      ops[i] = stamp ? { op, key, set: name, member: value, replica: stamp.replica, hlc } : { op, key, set: name, member: value };
    }
  }
  if (decoder.remaining !== 0) throw new TidalError('MalformedPayload', `${decoder.remaining} bytes after the last operation of the block`);
  return ops;
}

/** UTF-8 to a well-formed string; short ASCII (keys, names) without a TextDecoder call. */
function readUtf8(bytes: Uint8Array, what: string): string {
  if (bytes.length <= ASCII_FAST_PATH_MAX) {
    const ascii = asciiString(bytes, 0, bytes.length);
    if (ascii !== undefined) return ascii;
  }
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new TidalError('MalformedPayload', `${what} is not valid UTF-8`, { cause });
  }
  // Valid UTF-8 decodes to a well-formed string, except where a front-coded prefix ends in a high surrogate (checked above).
  if (!isWellFormedString(text)) throw new TidalError('MalformedPayload', `${what} is not a well-formed string`);
  return text;
}
