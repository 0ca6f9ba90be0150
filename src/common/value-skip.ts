/**
 * Reading past a value of the codec (docs/PAYLOAD.md §2) without building
 * it: where one event of a payload ends, and one field of it, for a reader
 * that passes the event's bytes on as they are (device sync's uploader
 * copies its log's writes into chunks; their reader decodes them whole).
 *
 *     const start = decoder.offset;
 *     const kind = decodeField(decoder, 't');  // the event's `t`, the rest skipped
 *     const bytes = decoder.bytes.subarray(start, decoder.offset);
 *
 * The bounds are the full reader's: every tag known, every length within
 * the bytes left, nesting within `maxDepth` (`Truncated`,
 * `LengthOutOfBounds`, `MalformedPayload` as `decodeValue` throws them).
 * What is skipped is not validated further (a string's UTF-8, an object's
 * duplicate keys): whoever decodes the bytes later checks them.
 */
import type { Decoder } from './bytes.js';
import { TidalError } from './errors.js';
import { MAX_EVENT_DEPTH, readLength, type Value } from './value-bounds.js';
import {
  TAG_ARRAY,
  TAG_BIGINT,
  TAG_BYTES,
  TAG_F64,
  TAG_NEGBIGINT,
  TAG_NEGINT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_SMALL_INT,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
} from './value-tags.js';
import { readValue } from './value-read.js';

const utf8 = new TextEncoder();

/** Moves `decoder` past one value that sits inside `depth` containers. */
export function skipValue(decoder: Decoder, depth = 0, maxDepth = MAX_EVENT_DEPTH): void {
  const at = decoder.offset;
  const tag = decoder.readU8();
  if (tag >= TAG_SMALL_INT || (tag >= TAG_NULL && tag <= TAG_TRUE)) return;
  switch (tag) {
    case TAG_UINT:
    case TAG_NEGINT:
      decoder.readVarUint();
      return;
    case TAG_F64:
      decoder.readF64();
      return;
    case TAG_BIGINT:
    case TAG_NEGBIGINT:
      decoder.offset = at;
      readValue(decoder, depth, maxDepth); // bounded and rare: read it as the full reader does
      return;
    case TAG_STRING:
    case TAG_BYTES:
      decoder.readRaw(readLength(decoder, 1, tag === TAG_STRING ? 'string' : 'byte string', 'bytes'));
      return;
    case TAG_ARRAY: {
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      const count = readLength(decoder, 1, 'array', 'elements');
      for (let i = 0; i < count; i++) skipValue(decoder, depth + 1, maxDepth);
      return;
    }
    case TAG_OBJECT: {
      if (depth >= maxDepth) throw tooDeep(at, maxDepth);
      const count = readLength(decoder, 2, 'object', 'entries (2 bytes or more each)');
      for (let i = 0; i < count; i++) {
        decoder.readRaw(readLength(decoder, 1, 'key', 'bytes'));
        skipValue(decoder, depth + 1, maxDepth);
      }
      return;
    }
    default:
      throw new TidalError('MalformedPayload', `unknown value tag 0x${tag.toString(16).padStart(2, '0')} at offset ${at}`, {
        details: { offset: at, tag },
      });
  }
}

let lastName = '';
let lastNameBytes = new Uint8Array(0);

/** `name`'s UTF-8, kept for the next call: a reader asks for the same field of every event it passes over. */
function nameBytes(name: string): Uint8Array {
  if (name !== lastName) {
    lastNameBytes = utf8.encode(name);
    lastName = name;
  }
  return lastNameBytes;
}

/**
 * Moves `decoder` past one value and returns its field `name`, decoded, if
 * the value is an object that has it (the other fields are skipped);
 * `undefined` otherwise.
 */
export function decodeField(decoder: Decoder, name: string, maxDepth = MAX_EVENT_DEPTH): Value | undefined {
  const at = decoder.offset;
  if (decoder.remaining === 0 || decoder.bytes[at] !== TAG_OBJECT) {
    skipValue(decoder, 0, maxDepth);
    return undefined;
  }
  decoder.readU8();
  if (maxDepth < 1) throw tooDeep(at, maxDepth);
  const count = readLength(decoder, 2, 'object', 'entries (2 bytes or more each)');
  const wanted = nameBytes(name);
  const bytes = decoder.bytes;
  let found: Value | undefined;
  for (let i = 0; i < count; i++) {
    const length = readLength(decoder, 1, 'key', 'bytes');
    const keyAt = decoder.offset;
    decoder.readRaw(length);
    // The key's bytes against the name's (no string built for the keys passed over).
    let match = found === undefined && length === wanted.length;
    for (let j = 0; match && j < length; j++) match = bytes[keyAt + j] === wanted[j];
    if (match) found = readValue(decoder, 1, maxDepth);
    else skipValue(decoder, 1, maxDepth);
  }
  return found;
}

function tooDeep(at: number, maxDepth: number): TidalError {
  return new TidalError('MalformedPayload', `container at offset ${at} is nested deeper than ${maxDepth}`, {
    details: { offset: at },
  });
}
