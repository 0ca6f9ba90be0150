/**
 * Write frames (docs/WRITE-EVENTS.md, "Write frames"): how a tick's writes
 * for one shard travel from the main thread to the shard's worker, and from
 * a follower tab's worker to the leader tab's: one compact binary frame,
 * its `ArrayBuffer` transferred (not a cloned graph of objects), encoded
 * once per tick. Each write's operations are its version-3 operations
 * block (`ops-block-v3.ts`), encoded once when the write is formed and
 * logged by the leader as it came.
 *
 *     const frame = encodeWriteFrame(shard, requests);     // main thread
 *     slot.writes.send(frame);                             // its buffer transferred (write-port.ts)
 *     const entries = decodeWriteFrame(frame, shard);      // worker: each a request or why it was refused
 *
 * A frame whose header is wrong is refused whole (`MalformedMessage`); a
 * request inside it that is wrong is refused on its own, naming what was
 * wrong, and the others go on.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { EMPTY_OPS_BLOCK_V3, decodeOpsBlockV3, decodeOpsBlockV3Stampable, encodeOpsBlockV3 } from '../session/ops-block-v3.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH, MAX_WRITE_BYTES, assertIdempotencyKey, type WriteRequest } from '../session/write.js';

/** `TDLW`. */
const MAGIC = 0x574c4454;
export const WRITE_FRAME_VERSION = 1;
const HEADER_BYTES = 8;
/** Most requests in one frame. */
export const MAX_FRAME_REQUESTS = 10_000;
/** Largest frame: a few writes of the largest size. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const SESSION_BYTES = 16;

/** A request of a frame as the worker reads it: its operations decoded and checked, and the block they came in. */
export type ReceivedRequest = WriteRequest & { readonly block: Uint8Array };

/** One request of a received frame: the request, or why it was refused. */
export type FrameEntry = { readonly ok: true; readonly request: ReceivedRequest } | { readonly ok: false; readonly error: TidalError };

/** The block of a request's operations (the one it carries, else encoded now). */
export function blockOf(request: WriteRequest): Uint8Array {
  return request.block ?? (request.ops.length === 0 ? EMPTY_OPS_BLOCK_V3 : encodeOpsBlockV3(request.ops));
}

const frameEncoder = new Encoder(1 << 16);
const utf8 = new TextEncoder();

/** The frame of `requests` for `shard`: a fresh buffer of exactly its size, to transfer. */
export function encodeWriteFrame(shard: ShardId, requests: readonly WriteRequest[]): Uint8Array {
  const e = frameEncoder;
  try {
    e.writeU32(MAGIC);
    e.writeU8(WRITE_FRAME_VERSION);
    e.writeU8(0);
    e.writeU16(shard);
    e.writeVarUint(requests.length);
    for (const request of requests) {
      const block = blockOf(request);
      const key = request.idempotencyKey === undefined ? undefined : utf8.encode(request.idempotencyKey);
      // The record's length first, so that a reader can refuse one request and read on.
      const fields = SESSION_BYTES + varUintBytes(request.startedAt) + varUintBytes(request.seq) + varUintBytes(request.acked);
      const keyBytes = key === undefined ? 1 : varUintBytes(key.length + 1) + key.length;
      e.writeVarUint(fields + keyBytes + block.length);
      writeSession(e, request.session);
      e.writeVarUint(request.startedAt);
      e.writeVarUint(request.seq);
      e.writeVarUint(request.acked);
      if (key === undefined) e.writeVarUint(0);
      else {
        e.writeVarUint(key.length + 1);
        e.writeRaw(key);
      }
      e.writeRaw(block);
    }
    return e.toBytes();
  } finally {
    e.reset();
  }
}

/** Checks a frame's header and record lengths, reading nothing inside the records: its request count. `MalformedMessage` if wrong. */
export function checkWriteFrame(frame: unknown, shard: ShardId): number {
  const decoder = openFrame(frame, shard);
  const count = framed(() => decoder.readVarUint());
  for (let i = 0; i < count; i++) decoder.readRaw(recordLength(decoder, i));
  if (decoder.remaining !== 0) throw malformed(`${decoder.remaining} bytes after the last request`);
  return count;
}

/**
 * The requests of a frame for `shard`, each checked as a leader needs it
 * (session, numbers, key, every operation), or why it was refused
 * (`MalformedMessage`, naming the request and what was wrong). Throws
 * `MalformedMessage` for a frame whose header or framing is wrong. Given
 * the leader's `replica`, the operations are decoded in the stamped shape
 * for it (`WriteRequest.stampableBy`).
 */
export function decodeWriteFrame(frame: unknown, shard: ShardId, replica?: string): FrameEntry[] {
  const decoder = openFrame(frame, shard);
  const count = framed(() => decoder.readVarUint());
  const entries: FrameEntry[] = [];
  for (let i = 0; i < count; i++) {
    const record = decoder.readRaw(recordLength(decoder, i));
    try {
      entries.push({ ok: true, request: readRequest(record, replica) });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      entries.push({ ok: false, error: new TidalError('MalformedMessage', `write request ${i} of the frame: ${why}`, { cause: error }) });
    }
  }
  if (decoder.remaining !== 0) throw malformed(`${decoder.remaining} bytes after the last request`);
  return entries;
}

function openFrame(frame: unknown, shard: ShardId): Decoder {
  if (!(frame instanceof Uint8Array)) throw malformed(`a write frame must be a Uint8Array, got ${describe(frame)}`);
  if (frame.length < HEADER_BYTES + 1) throw malformed(`a write frame of ${frame.length} bytes is shorter than its header`);
  if (frame.length > MAX_FRAME_BYTES) throw malformed(`a write frame of ${frame.length} bytes is over ${MAX_FRAME_BYTES}`);
  const decoder = new Decoder(frame);
  if (decoder.readU32() !== MAGIC) throw malformed('not a write frame (bad magic)');
  const version = decoder.readU8();
  if (version !== WRITE_FRAME_VERSION)
    throw new TidalError('UnsupportedVersion', `write frame version ${version}; this build reads ${WRITE_FRAME_VERSION}`);
  const flags = decoder.readU8();
  if (flags !== 0) throw malformed(`write frame flags 0x${flags.toString(16)}; none are defined`);
  const frameShard = decoder.readU16();
  if (frameShard !== shard) throw malformed(`a write frame for shard ${frameShard} reached shard ${shard}`);
  return decoder;
}

function recordLength(decoder: Decoder, i: number): number {
  if (i >= MAX_FRAME_REQUESTS) throw malformed(`a write frame holds more than ${MAX_FRAME_REQUESTS} requests`);
  const length = framed(() => decoder.readVarUint());
  if (length > decoder.remaining) throw malformed(`write request ${i} claims ${length} bytes, ${decoder.remaining} remain`);
  return length;
}

function readRequest(record: Uint8Array, replica: string | undefined): ReceivedRequest {
  const d = new Decoder(record);
  const session = readSession(d);
  const startedAt = d.readVarUint();
  const seq = d.readVarUint();
  const acked = d.readVarUint();
  if (seq < 1) throw new TidalError('InvalidArgument', 'seq must be a positive integer, got 0');
  if (acked >= seq) throw new TidalError('InvalidArgument', `acked (${acked}) must be below seq (${seq})`);
  const keyLength = d.readVarUint();
  let idempotencyKey: string | undefined;
  if (keyLength > 0) {
    if (keyLength - 1 > 3 * MAX_IDEMPOTENCY_KEY_LENGTH)
      throw new TidalError('InvalidArgument', `idempotency key of ${keyLength - 1} bytes`);
    idempotencyKey = assertIdempotencyKey(utf8Decoder(d.readRaw(keyLength - 1)));
  }
  const block = d.readRaw(d.remaining);
  if (block.length > MAX_WRITE_BYTES)
    throw new TidalError('PayloadTooLarge', `a write's operations take ${block.length} bytes, over ${MAX_WRITE_BYTES}`);
  const key = idempotencyKey !== undefined ? { idempotencyKey } : {};
  if (replica === undefined) return { session, startedAt, seq, acked, ops: decodeOpsBlockV3(block), block, ...key };
  return { session, startedAt, seq, acked, ops: decodeOpsBlockV3Stampable(block, replica), block, stampableBy: replica, ...key };
}

const hexDigits = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

function writeSession(e: Encoder, session: string): void {
  for (let i = 0; i < SESSION_BYTES; i++) e.writeU8(parseInt(session.slice(2 * i, 2 * i + 2), 16));
}

/** The session id: 16 bytes as 32 lower-case hex digits (so every session id a frame can hold is a valid one). */
function readSession(d: Decoder): string {
  const bytes = d.readRaw(SESSION_BYTES);
  let hex = '';
  for (const b of bytes) hex += hexDigits[b]!;
  return hex;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function utf8Decoder(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch (cause) {
    throw new TidalError('Unencodable', 'idempotency key is not valid UTF-8', { cause });
  }
}

function varUintBytes(value: number): number {
  let n = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function framed<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isTidalError(error, 'MalformedMessage')) throw error;
    throw malformed(error instanceof Error ? error.message : String(error));
  }
}

function malformed(why: string): TidalError {
  return new TidalError('MalformedMessage', why);
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}
