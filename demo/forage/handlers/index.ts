/** Forage's operations as request handlers, behind one typed router; they run in Forage's worker. */
export { EMBEDDER_KINDS } from './context.js';
export type { EmbedderKind, Embedding, HandlerContext } from './context.js';
export { itemId } from './ingest.js';
export type {
  ContextRequest,
  ForageRequest,
  ForageResponse,
  ForageView,
  ForageWorkerApi,
  IngestResult,
  ItemView,
  LabelRankingView,
  LabelView,
  OperationName,
  Operations,
  OpmlImportResult,
  Progress,
  SignalView,
  SlateView,
  SourceView,
} from './operations.js';
export { route } from './router.js';
export { DEFAULT_SLATE_SIZE } from './slate-handlers.js';
export { VectorCache, itemText } from './vectors.js';
