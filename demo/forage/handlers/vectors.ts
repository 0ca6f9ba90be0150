/**
 * Item vectors, embedded once per worker: an item's text never changes
 * (its content is written once), so its vector is cached by item id for the
 * embedder in use.
 */
import type { Embedder } from '../embeddings/index.js';
import type { StoredItem } from '../store/index.js';

/** The text an item is embedded by: its title and summary. */
export function itemText(item: StoredItem): string {
  return item.summary ? `${item.title}. ${item.summary}` : item.title;
}

export class VectorCache {
  readonly #embedder: Embedder;
  readonly #vectors = new Map<string, Float32Array>();

  constructor(embedder: Embedder) {
    this.#embedder = embedder;
  }

  vector(id: string, item: StoredItem): Float32Array {
    let vector = this.#vectors.get(id);
    if (vector === undefined) {
      vector = this.#embedder.embed(itemText(item));
      this.#vectors.set(id, vector);
    }
    return vector;
  }
}
