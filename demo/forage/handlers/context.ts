/**
 * What every handler runs with: the database (one hop away, in the page),
 * the tab it acts for, the clock, randomness and ids (injected, so tests
 * replay), the embedder, and where to report progress.
 */
import type { Embedder } from '../embeddings/index.js';
import type { ForageDb } from '../store/index.js';
import type { Progress } from './operations.js';
import type { VectorCache } from './vectors.js';

/** The embedders labels can use: built-in word hashing, or GloVe word vectors served by the demo. */
export type EmbedderKind = 'hashing' | 'glove';
export const EMBEDDER_KINDS: readonly EmbedderKind[] = ['hashing', 'glove'];

/** An embedder with its cache of item vectors. */
export interface Embedding {
  readonly kind: EmbedderKind;
  readonly embedder: Embedder;
  readonly vectors: VectorCache;
}

export interface HandlerContext {
  readonly db: ForageDb;
  /** The tab the page runs in (`TidalDb.tabId`): slates and signals record it. */
  readonly tab: string;
  /** The page's origin: feeds there are fetched without the CORS proxy. */
  readonly origin: string;
  /** Where the starter bundle's files are served (a folder URL ending in `/`). */
  readonly starterBase: string;
  readonly now: () => number;
  readonly random: () => number;
  readonly newId: () => string;
  /** The embedder the settings name, for this request (word hashing when that one could not be loaded). */
  readonly embedder: Embedder;
  readonly vectors: VectorCache;
  /** Why the embedder the settings name is not the one in use, `''` when it is. */
  readonly embedderError: string;
  /** Loads an embedder (to check that it loads before the settings name it). */
  readonly loadEmbedding: (kind: EmbedderKind) => Promise<Embedding>;
  /** Injected in tests; default the global `fetch`. */
  readonly fetch?: typeof fetch;
  readonly progress: (progress: Progress) => void;
}
