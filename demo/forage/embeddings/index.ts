/**
 * Forage's text embedders: an `Embedder` maps a text to a deterministic,
 * L2-normalised vector. `createHashingEmbedder` needs nothing downloaded
 * (signed feature hashing of words, word pairs and character trigrams).
 *
 *     const embedder = createHashingEmbedder();
 *     const similarity = cosineSimilarity(embedder.embed(item.title), embedder.embed(positive.title));
 */
export { cosineSimilarity, normalize } from './embedder.js';
export type { Embedder } from './embedder.js';
export { createHashingEmbedder } from './hashing.js';
export type { HashingEmbedderOptions } from './hashing.js';
export { createGloveEmbedder } from './glove.js';
export type { GloveEmbedderOptions } from './glove.js';
export { STOP_WORDS, words } from './tokens.js';
export { WORD_VECTORS_URL, fetchWordVectors, parseWordVectors } from './word-vectors.js';
export type { WordVectors } from './word-vectors.js';
