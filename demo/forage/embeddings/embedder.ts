/**
 * What every embedder is: a deterministic map from text to a fixed-size,
 * L2-normalised vector, so that the cosine similarity of two texts is the
 * dot product of their vectors, and every tab computes the same vector for
 * the same text. An empty (or all-unknown) text embeds to the zero vector,
 * whose similarity to everything is 0.
 *
 *     const embedder = createHashingEmbedder();
 *     cosineSimilarity(embedder.embed('Rust 2.0 released'), embedder.embed('Release of Rust 2.0')); // ≈ 0.8
 */

/** A deterministic text embedder. */
export interface Embedder {
  /** Names the embedder and its parameters (`'hashing-1024-v1'`, `'glove-20000x100-sif-v1'`): vectors of different ids do not compare. */
  readonly id: string;
  /** Length of every vector. */
  readonly dim: number;
  /** The text's vector: L2 norm 1, or all zeros when the text has nothing the embedder knows. */
  embed(text: string): Float32Array;
}

/** Cosine similarity; 0 when either vector is zero. Throws `RangeError` on vectors of different lengths. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`vectors of different lengths (${a.length} and ${b.length})`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Scales `vector` in place to L2 norm 1 (a zero vector stays zero); returns it. */
export function normalize(vector: Float32Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < vector.length; i++) norm += vector[i]! * vector[i]!;
  if (norm === 0) return vector;
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! * scale;
  return vector;
}
