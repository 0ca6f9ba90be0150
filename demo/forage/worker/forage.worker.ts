/**
 * Forage's worker: runs every operation's handler (handlers/router.ts),
 * fetches and parses feeds (off the page's thread; there is no DOMParser
 * here, feedsmith needs none), embeds items and draws slates. It holds no
 * state of its own but a cache of item vectors: everything is read from and
 * written to the page's TidalDb, which the page serves on the port it hands
 * over in `connect` (store/db.ts).
 */
import * as Comlink from 'comlink';
import { TidalError, installTidalErrorHandler } from '../../../src/index.js';
import { route, type ForageWorkerApi, type HandlerContext } from '../handlers/index.js';
import { SETTINGS_KEY, forageDbOver, parseSettings } from '../store/index.js';
import { Embeddings } from './embeddings.js';

installTidalErrorHandler();

/** The starter bundle, at the same path in development and in a build (vite.config.ts copies it there). */
const STARTER_FOLDER = `${import.meta.env.BASE_URL}demo/forage/starter/`;

type Connected = Omit<HandlerContext, 'progress' | 'embedder' | 'vectors' | 'embedderError'>;

let connected: Connected | undefined;
const embeddings = new Embeddings();

/** The embedding the settings name, or word hashing (with the reason) when that one cannot be loaded here. */
async function embeddingFor(base: Connected): Promise<Pick<HandlerContext, 'embedder' | 'vectors' | 'embedderError'>> {
  const kind = parseSettings(await base.db.get(SETTINGS_KEY)).embedder;
  try {
    const { embedder, vectors } = await embeddings.get(kind);
    return { embedder, vectors, embedderError: '' };
  } catch (error) {
    const { embedder, vectors } = await embeddings.get('hashing');
    return {
      embedder,
      vectors,
      embedderError: `${kind} could not be loaded here (${error instanceof Error ? error.message : String(error)}); labels use word hashing`,
    };
  }
}

const api: ForageWorkerApi = {
  connect(port, options) {
    connected = {
      db: forageDbOver(port),
      tab: options.tab,
      origin: options.origin,
      starterBase: new URL(STARTER_FOLDER, self.location.origin).href,
      now: () => Date.now(),
      random: () => Math.random(),
      newId: () => crypto.randomUUID(),
      loadEmbedding: (kind) => embeddings.get(kind),
    };
  },
  async handle(request, onProgress) {
    const base = connected;
    if (!base) throw new TidalError('Closed', 'Forage worker: connect() first, with the page database port');
    return route({ ...base, ...(await embeddingFor(base)), progress: (progress) => void onProgress?.(progress) }, request);
  },
};

Comlink.expose(api);
