/**
 * Strings in the value codec: the exact UTF-8 of a string (a lone
 * surrogate has none, and is refused with a message saying where it is),
 * written with an ASCII fast path and read back keeping a leading U+FEFF.
 */
import { type Decoder, type Encoder } from './bytes.js';
import { TidalError } from './errors.js';
import { readLength } from './value-bounds.js';

// A fatal decoder that keeps a leading U+FEFF (the default strips it, which
// would turn "\uFEFFa" into "a").
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

const wellFormed: (text: string) => boolean =
  typeof nativeIsWellFormed === 'function' ? (text) => nativeIsWellFormed.call(text) : (text) => !LONE_SURROGATE.test(text);

/** Strings up to this long are scanned for surrogates first. */
const SCANNED_LENGTH = 64;

/**
 * True when `text` has no lone surrogate, i.e. it has an exact UTF-8 form.
 * Every operation's key and name is checked on the main thread: a short
 * string with no surrogate at all (nearly every key and name) is answered by
 * scanning its code units, which in Chromium measured 65-150 ns a call
 * against 200-380 ns for `String.prototype.isWellFormed` (fresh pages, 200k
 * calls over the peers workload's keys and kinds, 04:41 UTC, load ~6).
 */
export function isWellFormedString(text: string): boolean {
  const length = text.length;
  if (length > SCANNED_LENGTH) return wellFormed(text);
  for (let i = 0; i < length; i++) if ((text.charCodeAt(i) & 0xf800) === 0xd800) return wellFormed(text);
  return true;
}

/** Says where the first lone surrogate of `text` is, for an error message. */
export function describeLoneSurrogate(text: string): string {
  const at = LONE_SURROGATE.exec(text)?.index ?? -1;
  return (
    `a lone surrogate at index ${at} (${JSON.stringify(text.slice(Math.max(0, at - 8), at + 8))}), ` +
    'which has no UTF-8 form; call text.toWellFormed() to replace it with U+FFFD, or store the code units as numbers'
  );
}

/**
 * Writes a string body: `VarUint` UTF-8 byte length, then the bytes (as
 * `Encoder.writeString` does). Short ASCII strings (most keys and names)
 * are written byte by byte: far cheaper than a call into `TextEncoder` per
 * string. `text` must be well-formed (see `isWellFormedString`).
 */
export function writeUtf8(encoder: Encoder, text: string): void {
  const length = text.length;
  if (length < 0x80) {
    const start = encoder.length;
    encoder.writeU8(length);
    let index = 0;
    for (; index < length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) break;
      encoder.writeU8(code);
    }
    if (index === length) return;
    // Not ASCII: rewind the write position and let TextEncoder do it.
    encoder.length = start;
  }
  encoder.writeString(text);
}

/** Short ASCII strings are built in JS, straight from the buffer: cheaper than a view and a call into TextDecoder. */
export const ASCII_FAST_PATH_MAX = 32;

/**
 * One reusable array of char codes per length up to `ASCII_FAST_PATH_MAX`.
 * `String.fromCharCode.apply` over a plain array of small integers takes
 * V8's fast path; over a typed array it takes the generic one (each element
 * read through the typed array's accessors), and the `subarray` view it
 * needs is an allocation per string. Filling the array is the ASCII check's
 * own loop, so it costs nothing extra. Safe to share: `apply` copies the
 * codes before anything else can run.
 */
const asciiCodes: number[][] = Array.from({ length: ASCII_FAST_PATH_MAX + 1 }, (_, length) => Array.from({ length }, () => 0));

/**
 * `bytes[start..end)` as a string if every byte is ASCII, else `undefined`.
 * Built in one call, so the string is flat: appending a character at a time
 * makes a chain of cons strings, which every later regex test, comparison
 * or Map lookup of it must first flatten (on replay that was one of the
 * costliest steps per event: session ids, keys and names are decoded this way).
 */
export function asciiString(bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = end - start;
  const codes = asciiCodes[length];
  if (codes !== undefined && start >= 0 && end <= bytes.length) {
    for (let i = 0; i < length; i++) {
      const byte = bytes[start + i]!;
      if (byte >= 0x80) return undefined;
      codes[i] = byte;
    }
    return String.fromCharCode.apply(null, codes);
  }
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return undefined;
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

/**
 * `prefix.slice(0, shared)` followed by `bytes[start..end)` as one flat
 * string, if those bytes are ASCII and the whole fits `ASCII_FAST_PATH_MAX`
 * units, else `undefined`: a front-coded string (an operations block's keys
 * and names) built in one call, instead of a view, the suffix, the prefix's
 * slice and their concatenation.
 */
export function asciiStringAfter(prefix: string, shared: number, bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = shared + end - start;
  const codes = asciiCodes[length];
  if (codes === undefined || start < 0 || end > bytes.length || shared > prefix.length) return undefined;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) return undefined;
    codes[shared + i - start] = byte;
  }
  for (let i = 0; i < shared; i++) codes[i] = prefix.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

/** Reads a string body written by `writeUtf8`, keeping a leading U+FEFF. Throws `MalformedPayload` for bytes that are not well-formed UTF-8. */
export function readUtf8(decoder: Decoder): string {
  const at = decoder.offset;
  const length = readLength(decoder, 1, 'string', 'bytes');
  if (length <= ASCII_FAST_PATH_MAX) {
    const start = decoder.offset;
    const text = asciiString(decoder.bytes, start, start + length); // within bounds: readLength checked it
    if (text !== undefined) {
      decoder.offset = start + length;
      return text;
    }
  }
  const bytes = decoder.readRaw(length);
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new TidalError('MalformedPayload', `string at offset ${at} is not well-formed UTF-8`, {
      cause,
      details: { offset: at },
    });
  }
}
