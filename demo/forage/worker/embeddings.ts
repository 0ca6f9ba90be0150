/**
 * The embedders Forage's worker offers, loaded once per worker: the
 * built-in word hashing (nothing to load), and GloVe word vectors (a 4.6 MB
 * table served from the demo's own origin, fetched the first time a tab's
 * worker needs it). Which one labels use is a setting in tidal, so every
 * tab scores labels with the same embedder.
 */
import { createGloveEmbedder, createHashingEmbedder, fetchWordVectors, type Embedder } from '../embeddings/index.js';
import { VectorCache, type EmbedderKind, type Embedding } from '../handlers/index.js';

export class Embeddings {
  readonly #loaded = new Map<EmbedderKind, Promise<Embedding>>();

  /** The embedding of `kind`, loading it the first time; a failed load is forgotten, so that a later call retries. */
  get(kind: EmbedderKind): Promise<Embedding> {
    let loading = this.#loaded.get(kind);
    if (loading === undefined) {
      loading = (
        kind === 'glove' ? fetchWordVectors().then((table) => createGloveEmbedder(table)) : Promise.resolve(createHashingEmbedder())
      ).then((embedder: Embedder) => ({ kind, embedder, vectors: new VectorCache(embedder) }));
      loading.catch(() => this.#loaded.delete(kind));
      this.#loaded.set(kind, loading);
    }
    return loading;
  }
}
