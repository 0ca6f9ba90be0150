/**
 * The plaintext of a chunk (docs/SYNC.md §5): the events a device wrote in
 * an LSN range of its log. Two formats, told apart by the envelope's
 * version byte (docs/SYNC.md §4, authenticated with the rest: version 1
 * is format 1; 2 and 3, format 2, 3 named by its header, nonce and tag):
 *
 * - **format 2** (written since): a count, then per event its LSN, its
 *   length and its bytes *exactly as the device's WAL holds them* (one
 *   value of the log's codec, a write event). The uploader copies them out
 *   of the log's batches without decoding or encoding the operations, which
 *   took about 200 of the ~700 ms of a 16 MiB upload (`npm run bench --
 *   sync --profile`);
 * - **format 1** (read only): a count, then per event its LSN and its
 *   operations (one value of the codec).
 *
 * Both decoders are validators: the bytes come from a store that is not
 * trusted (even when they authenticated, a device with a bug must not
 * crash the others), so every event is checked (`asLogEvent`: a write,
 * each operation valid) and anything out of shape is `MalformedMessage`;
 * a write event of a newer version than this build reads stays
 * `UnsupportedVersion`.
 *
 *     const writer = new ChunkWriter();
 *     writer.add(lsn, eventBytes); ...
 *     const plaintext = writer.finish();                  // format 2
 *     decodeChunk(plaintext, 2, from, to, what);          // [{ lsn, ops }, ...]
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { validateOperation, type CrdtOperation } from '../crdt/operation.js';
import { asLogEvent } from '../session/write.js';
import { decodeValue, encodeValue, MAX_PAYLOAD_DEPTH, type Value } from '../wal/payload.js';

/** The chunk format an uploader writes. */
export const CHUNK_FORMAT = 2;
/** The envelope version an uploader seals its chunks in: format 2, named by header, nonce and tag (envelope.ts `namedByTag`). */
export const CHUNK_VERSION = 3;
/** Chunk formats this build reads. */
export const CHUNK_FORMATS: readonly number[] = [1, 2];

/** The format of a chunk's plaintext, from its envelope's version (one `ENVELOPE_VERSIONS.chunk` lists). */
export function chunkFormatOf(version: number): number {
  return version === 1 ? 1 : 2;
}
/** Most operations in one event of a chunk. */
export const MAX_OPS_PER_EVENT = 10_000;
/** Bytes a chunk's plaintext may add to its events' own (the count's LEB128, at most). */
export const CHUNK_COUNT_BYTES = 8;

/** One event of a device's log, as a reader takes it out of a chunk. */
export interface ChunkEvent {
  readonly lsn: number;
  readonly ops: readonly CrdtOperation[];
}

const malformed = (what: string, why: string) => new TidalError('MalformedMessage', `${what}: ${why}`);

/** Bytes of the LEB128 form of `value`. */
function varUintBytes(value: number): number {
  let n = 1;
  for (; value > 0x7f; n++) value = Math.floor(value / 0x80);
  return n;
}

/**
 * Builds a chunk's format-2 plaintext event by event, so that the uploader
 * cuts chunks at their real size: per event its LSN, its length and its
 * bytes as the log holds them; `finish` puts the count in front. The events
 * are written once, after `CHUNK_COUNT_BYTES` left free for the count, into
 * a buffer of the chunk's expected size that `finish` gives away (the seal
 * worker takes it): no copy of a chunk is made to put its count in front.
 */
export class ChunkWriter {
  /** The buffer size a chunk starts with (it grows past it for an event larger on its own). */
  private readonly capacity: number;
  private body: Encoder;
  private count = 0;
  /** LSN of the last event added (0 if none). */
  lastLsn = 0;

  /** A writer whose chunks start in buffers of `capacity` bytes (default 64 KiB; the uploader's: its largest chunk). */
  constructor(capacity = 64 * 1024) {
    this.capacity = capacity;
    this.body = this.emptyBody();
  }

  /** Plaintext bytes so far, the count's bytes not included (`CHUNK_COUNT_BYTES` bounds them). */
  get size(): number {
    return this.body.length - CHUNK_COUNT_BYTES;
  }

  get events(): number {
    return this.count;
  }

  /** What adding an event of `bytes` bytes at `lsn` would add to `size`. */
  static cost(lsn: number, bytes: number): number {
    return varUintBytes(lsn) + varUintBytes(bytes) + bytes;
  }

  /** Adds the event at `lsn`, `bytes` being its encoding as the log holds it (copied here). */
  add(lsn: number, bytes: Uint8Array): void {
    this.body.writeVarUint(lsn);
    this.body.writeBytes(bytes);
    this.count++;
    this.lastLsn = lsn;
  }

  /** The plaintext of the events added, a view of a buffer now the caller's; the writer starts afresh in a new one. */
  finish(): Uint8Array {
    const written = this.body.bytesView();
    const count = new Encoder(CHUNK_COUNT_BYTES);
    count.writeVarUint(this.count);
    const start = CHUNK_COUNT_BYTES - count.length;
    written.set(count.bytesView(), start); // the count right before the events
    this.body = this.emptyBody();
    this.count = 0;
    this.lastLsn = 0;
    return written.subarray(start);
  }

  /** Drops the events added. */
  reset(): void {
    this.body.length = CHUNK_COUNT_BYTES;
    this.count = 0;
    this.lastLsn = 0;
  }

  private emptyBody(): Encoder {
    const body = new Encoder(this.capacity + CHUNK_COUNT_BYTES);
    body.length = CHUNK_COUNT_BYTES; // room for the count, written by finish
    return body;
  }
}

/** Encodes events in format 1 (`{ lsn, ops }` each): what builds before format 2 uploaded; kept for tests of the reader. */
export function encodeChunkV1(events: readonly ChunkEvent[]): Uint8Array {
  const body = new Encoder(1024);
  body.writeVarUint(events.length);
  for (const event of events) {
    body.writeVarUint(event.lsn);
    encodeValue(body, event.ops as unknown as Value);
  }
  return body.toBytes();
}

/** Decodes and validates a chunk of `format` that a manifest says covers `[from, to]`. */
export function decodeChunk(bytes: Uint8Array, format: number, from: number, to: number, what: string): ChunkEvent[] {
  if (!CHUNK_FORMATS.includes(format))
    throw new TidalError('UnsupportedVersion', `${what} is of chunk format ${format}; this build reads ${CHUNK_FORMATS.join(' and ')}`);
  try {
    const decoder = new Decoder(bytes);
    const count = decoder.readVarUint();
    if (count > to - from + 1) throw malformed(what, `${count} events in an LSN range of ${to - from + 1}`);
    const events: ChunkEvent[] = [];
    let last = from - 1;
    for (let i = 0; i < count; i++) {
      const lsn = decoder.readVarUint();
      if (lsn <= last || lsn > to) throw malformed(what, `event LSN ${lsn} out of order or outside [${from}, ${to}]`);
      last = lsn;
      const ops = format === 1 ? readOpsV1(decoder, lsn, what) : readEventV2(decoder, lsn, what);
      events.push({ lsn, ops });
    }
    if (decoder.remaining !== 0) throw malformed(what, `${decoder.remaining} bytes after the last event`);
    return events;
  } catch (error) {
    if (isTidalError(error, 'MalformedMessage') || isTidalError(error, 'UnsupportedVersion')) throw error;
    throw malformed(what, error instanceof Error ? error.message : String(error));
  }
}

/** Format 1: the event's operations, one value. */
function readOpsV1(decoder: Decoder, lsn: number, what: string): CrdtOperation[] {
  const ops = decodeValue(decoder);
  if (!Array.isArray(ops) || ops.length > MAX_OPS_PER_EVENT) throw malformed(what, `event ${lsn} does not hold an array of operations`);
  for (const op of ops) validateOperation(op);
  return ops as unknown as CrdtOperation[];
}

/** Format 2: the event as the uploader's log held it, which must be a write (checked whole, as a log's reader checks it). */
function readEventV2(decoder: Decoder, lsn: number, what: string): readonly CrdtOperation[] {
  const bytes = decoder.readBytes();
  const event = new Decoder(bytes);
  const value = decodeValue(event, MAX_PAYLOAD_DEPTH);
  if (event.remaining !== 0) throw malformed(what, `event ${lsn} has ${event.remaining} bytes after its value`);
  const logged = asLogEvent(value);
  if (logged.t !== 'write') throw malformed(what, `event ${lsn} is not a write of its device (an import)`);
  if (logged.ops.length > MAX_OPS_PER_EVENT) throw malformed(what, `event ${lsn} holds ${logged.ops.length} operations`);
  return logged.ops;
}
