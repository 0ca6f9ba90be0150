/**
 * Helpers for fault-injection tests (see `InProcessNetwork.intercept`):
 * each returns a new message with its own copy of the bytes, altered, so a
 * test can corrupt, truncate or duplicate a payload in flight without
 * touching the original. They copy on purpose; they are for tests, never
 * for the data path.
 */
import { TidalError } from '../common/errors.js';
import type { WireMessage } from './wire.js';

/** The same message with its own copy of the bytes (deliver both to duplicate a message). */
export function withCopiedBytes<M extends WireMessage>(message: M): M {
  return { ...message, bytes: message.bytes.slice(0) };
}

/** The same message with the byte at `index` inverted (every bit flipped). */
export function withFlippedByte<M extends WireMessage>(message: M, index: number): M {
  if (!Number.isInteger(index) || index < 0 || index >= message.bytes.byteLength) {
    throw new TidalError('InvalidArgument', `byte index ${index} is outside a payload of ${message.bytes.byteLength} bytes`);
  }
  const bytes = message.bytes.slice(0);
  const view = new Uint8Array(bytes);
  view[index] = view[index]! ^ 0xff;
  return { ...message, bytes };
}

/** The same message with only the first `length` bytes. */
export function withTruncatedBytes<M extends WireMessage>(message: M, length: number): M {
  if (!Number.isInteger(length) || length < 0 || length > message.bytes.byteLength) {
    throw new TidalError('InvalidArgument', `cannot truncate a payload of ${message.bytes.byteLength} bytes to ${length}`);
  }
  return { ...message, bytes: message.bytes.slice(0, length) };
}
