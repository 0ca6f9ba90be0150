/**
 * A compact table of word vectors, as scripts/build-embeddings.mjs writes it
 * from GloVe (public domain) and the demo serves it from its own origin
 * (`WORD_VECTORS_URL`, about 4.5 MB for 40,000 words × 100 dimensions).
 *
 * Format, version 1 (all integers little-endian):
 *
 *   offset  size        field
 *   0       4           magic "FGWV"
 *   4       1           version = 1
 *   5       3           reserved, zero
 *   8       4           count: words (1..1,000,000)
 *   12      4           dim: dimensions (1..1,024)
 *   16      4           wordsLength: bytes of the word list
 *   20      4           vocabulary: words in the source vocabulary the ranks count in (≥ count)
 *   24      wordsLength the words, UTF-8, separated by "\n", in order of frequency
 *   …       0..3        zero padding to a multiple of 4
 *   R       4·count     u32 rank of each word in GloVe's frequency order (0 = most frequent)
 *   R+4c    4·count     f32 scale of each word's vector
 *   R+8c    dim·count   i8 components: word i's vector is scale[i] · q[i·dim .. i·dim + dim)
 *
 * and nothing after. `parseWordVectors` checks every field and length
 * before reading and answers a bad file with a `TidalError` (`BadMagic`,
 * `UnsupportedVersion`, `ReservedNotZero`, `Truncated`, `LengthOutOfBounds`,
 * `Corrupt`).
 *
 *     const table = parseWordVectors(new Uint8Array(await (await fetch(WORD_VECTORS_URL)).arrayBuffer()));
 *     table.lookup('rust'); // index, or -1
 */
import { TidalError } from '../../../src/index.js';

/** Where the demo serves the table (resolved by the bundler; a file URL under Node). */
export const WORD_VECTORS_URL: URL = new URL('./glove-40k-100d.bin', import.meta.url);

const MAGIC = [0x46, 0x47, 0x57, 0x56];
const VERSION = 1;
const HEADER_BYTES = 24;
const MAX_WORDS = 1_000_000;
const MAX_DIM = 1024;

/** A parsed table: views into the file's bytes, no copies. */
export interface WordVectors {
  readonly count: number;
  readonly dim: number;
  /** Size of the vocabulary the ranks count in (GloVe's, as wink ships it: 341,479). */
  readonly vocabulary: number;
  /** GloVe frequency rank per word (0 = most frequent). */
  readonly ranks: Uint32Array;
  readonly scales: Float32Array;
  /** count × dim quantised components. */
  readonly components: Int8Array;
  /** The word's index, or -1. */
  lookup(word: string): number;
  /** Adds `weight` × word `index`'s vector to `into`. */
  addTo(into: Float32Array, index: number, weight: number): void;
}

/** Parses (and checks) a table; the result views `bytes`, which must not change afterwards. */
export function parseWordVectors(bytes: Uint8Array): WordVectors {
  if (bytes.length < HEADER_BYTES)
    throw new TidalError('Truncated', `word vector table is ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  if (MAGIC.some((b, i) => bytes[i] !== b))
    throw new TidalError('BadMagic', 'not a word vector table (the file does not start with "FGWV")');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== VERSION)
    throw new TidalError('UnsupportedVersion', `word vector table version ${version}; this build reads version ${VERSION}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0)
    throw new TidalError('ReservedNotZero', 'word vector table: reserved header bytes 5..7 are not zero');
  const count = view.getUint32(8, true);
  const dim = view.getUint32(12, true);
  const wordsLength = view.getUint32(16, true);
  const vocabulary = view.getUint32(20, true);
  if (count < 1 || count > MAX_WORDS)
    throw new TidalError('LengthOutOfBounds', `word vector table claims ${count} words (1..${MAX_WORDS})`);
  if (dim < 1 || dim > MAX_DIM) throw new TidalError('LengthOutOfBounds', `word vector table claims ${dim} dimensions (1..${MAX_DIM})`);
  if (vocabulary < count) throw new TidalError('Corrupt', `word vector table: vocabulary ${vocabulary} is smaller than its ${count} words`);
  const ranksAt = Math.ceil((HEADER_BYTES + wordsLength) / 4) * 4;
  const expected = ranksAt + 8 * count + dim * count;
  if (bytes.length < expected)
    throw new TidalError('Truncated', `word vector table is ${bytes.length} bytes; its header needs ${expected}`);
  if (bytes.length > expected)
    throw new TidalError('LengthOutOfBounds', `word vector table has ${bytes.length - expected} bytes after its end`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + wordsLength));
  } catch (cause) {
    throw new TidalError('Corrupt', 'word vector table: the word list is not valid UTF-8', { cause });
  }
  const words = text.split('\n');
  if (words.length !== count) throw new TidalError('Corrupt', `word vector table: ${words.length} words listed, header says ${count}`);
  const index = new Map<string, number>();
  words.forEach((word, i) => {
    if (word.length === 0 || index.has(word)) throw new TidalError('Corrupt', `word vector table: word ${i} is empty or repeated`);
    index.set(word, i);
  });
  // ranksAt is a multiple of 4 from the file's start; typed views need it from the buffer's start, so copy when unaligned.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const ranks = new Uint32Array(aligned.buffer, aligned.byteOffset + ranksAt, count);
  const scales = new Float32Array(aligned.buffer, aligned.byteOffset + ranksAt + 4 * count, count);
  const components = new Int8Array(aligned.buffer, aligned.byteOffset + ranksAt + 8 * count, dim * count);
  for (let i = 0; i < count; i++) {
    if (!(Number.isFinite(scales[i]!) && scales[i]! > 0))
      throw new TidalError('Corrupt', `word vector table: scale of word ${i} is ${scales[i]}`);
    if (ranks[i]! >= vocabulary)
      throw new TidalError('Corrupt', `word vector table: rank ${ranks[i]} of word ${i} is outside its vocabulary of ${vocabulary}`);
  }
  return {
    count,
    dim,
    vocabulary,
    ranks,
    scales,
    components,
    lookup: (word) => index.get(word) ?? -1,
    addTo(into, i, weight) {
      const w = weight * scales[i]!;
      const base = i * dim;
      for (let j = 0; j < dim; j++) into[j] = into[j]! + w * components[base + j]!;
    },
  };
}

/** Fetches and parses the table from `url` (default `WORD_VECTORS_URL`), refusing more than `maxBytes` (default 8 MB). */
export async function fetchWordVectors(url: URL | string = WORD_VECTORS_URL, maxBytes = 8 * 1024 * 1024): Promise<WordVectors> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new TidalError('Unreachable', `could not fetch the word vector table from ${String(url)}`, { cause });
  }
  if (!response.ok) throw new TidalError('Unreachable', `the word vector table at ${String(url)} answered ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new TidalError('PayloadTooLarge', `the word vector table is ${declared} bytes, more than ${maxBytes}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > maxBytes)
    throw new TidalError('PayloadTooLarge', `the word vector table is ${bytes.length} bytes, more than ${maxBytes}`);
  return parseWordVectors(bytes);
}
