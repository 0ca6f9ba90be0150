/**
 * The WAL batch of a state import built around the state's bytes where they
 * already lie (`ShardLeader.mergeState(..., inPlace)`), so that a state of
 * megabytes is not copied into a fresh batch buffer before it is written:
 * the 72-byte header gap and the event's head go just in front of it, the
 * other cursors' import events just after, and the batch is appended as it
 * is (`Wal.appendEncoded`). Its bytes are `encodePayload`'s byte for byte.
 */
import { Encoder } from '../common/bytes.js';
import { BATCH_HEADER_V2_BYTES } from '../wal/format.js';
import { encodeValue, PAYLOAD_VERSION, type Value } from '../wal/payload.js';
import { loggedStateImport, type ImportEvent } from './write.js';

/**
 * The bytes of a WAL payload holding only `loggedStateImport(device, upTo, at, state)` that come before the
 * state's own bytes, for a state of `stateLength` bytes: the payload version, then the event up to its `state`
 * field's length (the state is its last field). Followed by the state, they are `encodePayload([event])` byte for
 * byte, so the event can be built in front of a state already in its buffer (`Wal.appendEncoded`).
 */
export function stateImportPayloadPrefix(device: string, upTo: number, at: number, stateLength: number): Uint8Array {
  const encoder = new Encoder(128);
  encoder.writeU8(PAYLOAD_VERSION);
  encodeValue(encoder, loggedStateImport(device, upTo, at, new Uint8Array(0)));
  encoder.length -= 1; // an empty state ends the event with its tag and its length, 0: the length is the state's
  encoder.writeVarUint(stateLength);
  return encoder.toBytes();
}

/**
 * The batch (header gap, then the payload of the state import of `device` up to `upTo` at `at`, then `imports`)
 * laid out in the buffer `state` views, around `state` itself, which is not moved; `undefined` when the buffer has
 * too little room before or after `state` (the caller then encodes a fresh batch). Overwrites the bytes around
 * `state` that the batch covers: the buffer must be the caller's to give away.
 */
export function stateImportBatchInPlace(
  device: string,
  upTo: number,
  at: number,
  state: Uint8Array,
  imports: readonly ImportEvent[],
): Uint8Array | undefined {
  const head = stateImportPayloadPrefix(device, upTo, at, state.byteLength);
  const tail = new Encoder(64 * imports.length + 1);
  for (const event of imports) encodeValue(tail, event as unknown as Value);
  const start = state.byteOffset - head.byteLength - BATCH_HEADER_V2_BYTES;
  const end = state.byteOffset + state.byteLength + tail.length;
  if (start < 0 || end > state.buffer.byteLength) return undefined;
  const batch = new Uint8Array(state.buffer, start, end - start);
  batch.set(head, BATCH_HEADER_V2_BYTES);
  batch.set(tail.bytesView(), batch.byteLength - tail.length);
  return batch;
}
