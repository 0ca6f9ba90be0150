import { describe, expect, it } from 'vitest';
import { cosineSimilarity } from './embedder.js';
import { createHashingEmbedder } from './hashing.js';
import { words } from './tokens.js';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('words', () => {
  it('normalises case, diacritics and apostrophes', () => {
    expect(words('Déjà vu: Rust’s 2.0 release!')).toEqual(['deja', 'vu', 'rusts', '2', '0', 'release']);
    expect(words('')).toEqual([]);
  });
});

describe('hashing embedder', () => {
  const embedder = createHashingEmbedder();

  it('is deterministic and L2-normalised, with the zero vector for a text of stop words only', () => {
    const a = embedder.embed('WebGPU lands in Firefox Nightly');
    expect(a).toHaveLength(1024);
    expect(norm(a)).toBeCloseTo(1, 6);
    expect(createHashingEmbedder().embed('WebGPU lands in Firefox Nightly')).toEqual(a);
    expect(norm(embedder.embed('the and of'))).toBe(0);
    expect(cosineSimilarity(embedder.embed(''), a)).toBe(0);
  });

  it('puts a paraphrase closer than an unrelated text, and shares trigrams between word forms', () => {
    const text = embedder.embed('The Rust compiler gets faster incremental builds');
    const paraphrase = embedder.embed('Faster incremental builds arrive in the Rust compiler');
    const unrelated = embedder.embed('Tomato harvest breaks records in southern Spain');
    expect(cosineSimilarity(text, paraphrase)).toBeGreaterThan(0.6);
    expect(Math.abs(cosineSimilarity(text, unrelated))).toBeLessThan(0.15);
    expect(cosineSimilarity(embedder.embed('compilers'), embedder.embed('compiler'))).toBeGreaterThan(0.3);
  });

  it('has an id naming its parameters', () => {
    expect(embedder.id).toBe('hashing-1024-v1');
    expect(createHashingEmbedder({ dim: 256, pairWeight: 0 }).id).toBe('hashing-256-w1-p0-t1-v1');
  });
});
