/**
 * The default embedder, which needs nothing downloaded: signed feature
 * hashing (Weinberger et al., "Feature Hashing for Large Scale Multitask
 * Learning", 2009). A text's features are its content words, its pairs of
 * adjacent content words, and the character trigrams of each content word
 * (with `#` marking its ends, so "model" and "models" share most of them);
 * each feature adds its weight, with a sign, to one of `dim` buckets chosen
 * by a 32-bit FNV-1a hash of the feature, and the sum is L2-normalised.
 * The sign (from a second, independent hash) makes collisions cancel in
 * expectation instead of piling up. Deterministic in every tab: no state,
 * no randomness.
 *
 *     const embedder = createHashingEmbedder({ dim: 1024 });
 *     embedder.embed('WebGPU lands in Firefox'); // Float32Array(1024), norm 1
 */
import { normalize, type Embedder } from './embedder.js';
import { STOP_WORDS, words } from './tokens.js';

/** Options of `createHashingEmbedder`. */
export interface HashingEmbedderOptions {
  /** Buckets (vector length). Default 1024. */
  readonly dim?: number;
  /** Weight of a content word. Default 1. */
  readonly wordWeight?: number;
  /** Weight of a pair of adjacent content words. Default 0.5. */
  readonly pairWeight?: number;
  /** Weight of one word's trigrams together (each gets weight / √count, so they have the L2 norm of one word). Default 1. */
  readonly trigramWeight?: number;
}

/** A signed feature-hashing embedder (see the module comment). */
export function createHashingEmbedder(options: HashingEmbedderOptions = {}): Embedder {
  const dim = options.dim ?? 1024;
  if (!Number.isSafeInteger(dim) || dim < 1 || dim > 1 << 20) throw new RangeError(`dim must be an integer in 1..2^20, not ${dim}`);
  const wordWeight = options.wordWeight ?? 1;
  const pairWeight = options.pairWeight ?? 0.5;
  const trigramWeight = options.trigramWeight ?? 1;
  const custom = options.wordWeight !== undefined || options.pairWeight !== undefined || options.trigramWeight !== undefined;
  return {
    id: custom ? `hashing-${dim}-w${wordWeight}-p${pairWeight}-t${trigramWeight}-v1` : `hashing-${dim}-v1`,
    dim,
    embed(text: string): Float32Array {
      const vector = new Float32Array(dim);
      const add = (feature: string, weight: number) => {
        const h = fnv1a(feature);
        const sign = mix(h) & 1 ? -1 : 1;
        vector[h % dim] = vector[h % dim]! + sign * weight;
      };
      const content = words(text).filter((w) => !STOP_WORDS.has(w));
      content.forEach((word, i) => {
        add(`w:${word}`, wordWeight);
        if (i > 0) add(`p:${content[i - 1]} ${word}`, pairWeight);
        const padded = `#${word}#`;
        const trigrams = padded.length - 2;
        for (let j = 0; j < trigrams; j++) add(`t:${padded.slice(j, j + 3)}`, trigramWeight / Math.sqrt(trigrams));
      });
      return normalize(vector);
    },
  };
}

/** 32-bit FNV-1a over the UTF-16 code units (the same in every engine). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finalizer: an independent-looking bit for the sign. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
