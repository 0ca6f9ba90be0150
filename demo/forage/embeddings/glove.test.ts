import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTidalError } from '../../../src/index.js';
import { cosineSimilarity } from './embedder.js';
import { createGloveEmbedder } from './glove.js';
import { WORD_VECTORS_URL, parseWordVectors } from './word-vectors.js';

const bytes = new Uint8Array(readFileSync(fileURLToPath(WORD_VECTORS_URL)));
const table = parseWordVectors(bytes);

describe('the committed word vector table', () => {
  it('holds 40,000 words × 100 dimensions in GloVe frequency order, a few MB', () => {
    expect(table.count).toBe(40_000);
    expect(table.dim).toBe(100);
    expect(bytes.length).toBeLessThan(5_000_000);
    expect(table.lookup('the')).toBe(0);
    expect(table.ranks[table.lookup('the')]).toBe(0);
    for (const word of ['compiler', 'javascript', 'firefox', 'vaccine', 'inflation']) expect(table.lookup(word), word).toBeGreaterThan(0);
    expect(table.lookup('zzzzqx')).toBe(-1);
    expect(table.ranks.every((rank, i) => i === 0 || rank > table.ranks[i - 1]!)).toBe(true);
  });

  it('refuses a damaged table with a specific code, and reads nothing past its end', () => {
    const cases: [Uint8Array, string][] = [
      [bytes.subarray(0, 10), 'Truncated'],
      [bytes.subarray(0, bytes.length - 1), 'Truncated'],
      [new Uint8Array([...bytes.subarray(0, 100), 0]), 'Truncated'],
      [withByte(0, 0x00), 'BadMagic'],
      [withByte(4, 2), 'UnsupportedVersion'],
      [withByte(6, 1), 'ReservedNotZero'],
      [withByte(14, 0x10), 'LengthOutOfBounds'], // dim ≥ 2^20
      [withByte(24 + 3, 0xff), 'Corrupt'], // invalid UTF-8 in the word list
      [withByte(24 + 1, 0x0a), 'Corrupt'], // "\n" inside "the": one word too many
    ];
    const extra = new Uint8Array(bytes.length + 1);
    extra.set(bytes);
    cases.push([extra, 'LengthOutOfBounds']);
    for (const [damaged, code] of cases) {
      let error: unknown;
      try {
        parseWordVectors(damaged);
      } catch (e) {
        error = e;
      }
      expect(isTidalError(error, code as never), `${code}: ${String(error)}`).toBe(true);
    }
  });
});

describe('GloVe SIF embedder', () => {
  const embedder = createGloveEmbedder(table);

  it('is deterministic and normalised, and places related texts closer than unrelated ones', () => {
    const a = embedder.embed('The central bank raised interest rates to fight inflation');
    expect(a).toHaveLength(100);
    expect(Math.hypot(...a)).toBeCloseTo(1, 5);
    expect(createGloveEmbedder(parseWordVectors(bytes)).embed('The central bank raised interest rates to fight inflation')).toEqual(a);
    // No shared content word, same topic.
    const related = embedder.embed('Monetary policy tightening as prices climb');
    const unrelated = embedder.embed('The striker scored twice in the cup final');
    expect(cosineSimilarity(a, related)).toBeGreaterThan(cosineSimilarity(a, unrelated) + 0.15);
    expect(embedder.embed('qqqzx xxyzzy').every((x) => x === 0)).toBe(true);
  });

  it('weighs frequent words down (smooth inverse frequency)', () => {
    // Adding function words barely moves the vector; adding a content word moves it.
    const base = embedder.embed('volcano eruption');
    expect(cosineSimilarity(base, embedder.embed('the volcano and the eruption of it'))).toBeGreaterThan(0.97);
    expect(cosineSimilarity(base, embedder.embed('volcano eruption football'))).toBeLessThan(0.95);
  });
});

function withByte(offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] = value;
  return copy;
}
