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
import { createHashingEmbedder } from '../embeddings/index.js';
import { VectorCache, route, type ForageWorkerApi, type HandlerContext } from '../handlers/index.js';
import { forageDbOver } from '../store/index.js';

installTidalErrorHandler();

/** The starter bundle's folder, next to this module's folder (a variable, so that Vite does not try to bundle a directory). */
const STARTER_FOLDER = '../starter/';

let connected: Omit<HandlerContext, 'progress'> | undefined;

const api: ForageWorkerApi = {
  connect(port, options) {
    const embedder = createHashingEmbedder();
    connected = {
      db: forageDbOver(port),
      tab: options.tab,
      origin: options.origin,
      starterBase: new URL(STARTER_FOLDER, import.meta.url).href,
      now: () => Date.now(),
      random: () => Math.random(),
      newId: () => crypto.randomUUID(),
      embedder,
      vectors: new VectorCache(embedder),
    };
  },
  handle(request, onProgress) {
    if (!connected) return Promise.reject(new TidalError('Closed', 'Forage worker: connect() first, with the page database port'));
    return route({ ...connected, progress: (progress) => void onProgress?.(progress) }, request);
  },
};

Comlink.expose(api);
