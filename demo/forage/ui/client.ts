/**
 * The client the page uses, and exposes as `window.forage` for devtools and
 * tests: one method per operation, each a request to Forage's worker.
 *
 *     const slate = await forage.nextSlate();
 *     await forage.signal(slate.items[0].id, 'like', { slateId: slate.id });
 *     (await forage.sources()).map((s) => [s.title, s.posterior.alpha, s.posterior.beta]);
 */
import * as Comlink from 'comlink';
import type { SignalKind } from '../export/index.js';
import type {
  ContextRequest,
  EmbedderKind,
  ForageRequest,
  ForageResponse,
  ForageView,
  ForageWorkerApi,
  IngestResult,
  LabelRankingView,
  LabelView,
  OperationName,
  OpmlImportResult,
  Progress,
  SignalView,
  SlateView,
  SourceView,
} from '../handlers/index.js';

export type ProgressListener = (progress: Progress) => void;

export class ForageClient {
  readonly #worker: Comlink.Remote<ForageWorkerApi>;

  constructor(worker: Comlink.Remote<ForageWorkerApi>) {
    this.#worker = worker;
  }

  /**
   * Sends one request; `onProgress` hears about fetches, and never after the request has settled:
   * progress travels on the callback's own MessagePort and the answer on the worker's, so the last
   * progress report can arrive after the answer (and would overwrite the error a page shows).
   */
  async request<K extends OperationName>(request: ForageRequest<K>, onProgress?: ProgressListener): Promise<ForageResponse<K>> {
    let settled = false;
    const listener = onProgress
      ? Comlink.proxy((progress: Progress) => {
          if (!settled) onProgress(progress);
        })
      : undefined;
    try {
      // Comlink's Remote type drops the method's type parameter; the request type above is what is checked.
      return (await this.#worker.handle(request as ForageRequest, listener)) as ForageResponse<K>;
    } finally {
      settled = true;
    }
  }

  /** Draws the next slate (and records it). Default: the whole feed, 10 items. */
  nextSlate(options: { context?: ContextRequest; size?: number } = {}): Promise<SlateView> {
    return this.request({ op: 'nextSlate', ...options });
  }

  signal(itemId: string, kind: SignalKind, options: { slateId: string }): Promise<SignalView> {
    return this.request({ op: 'signal', itemId, kind, slateId: options?.slateId });
  }

  sources(): Promise<SourceView[]> {
    return this.request({ op: 'sources' });
  }

  labels(): Promise<LabelView[]> {
    return this.request({ op: 'labels' });
  }

  view(options: { context?: ContextRequest; slates?: number } = {}): Promise<ForageView> {
    return this.request({ op: 'view', ...options });
  }

  addSource(url: string, options: { title?: string; category?: string } = {}, onProgress?: ProgressListener): Promise<IngestResult> {
    return this.request({ op: 'addSource', url, ...options }, onProgress);
  }

  refreshSource(sourceId: string, onProgress?: ProgressListener): Promise<IngestResult> {
    return this.request({ op: 'refreshSource', sourceId }, onProgress);
  }

  removeSource(sourceId: string): Promise<{ sourceId: string }> {
    return this.request({ op: 'removeSource', sourceId });
  }

  addStarter(options: { onlyIfEmpty?: boolean } = {}, onProgress?: ProgressListener): Promise<IngestResult[]> {
    return this.request({ op: 'addStarter', ...options }, onProgress);
  }

  importOpml(text: string, onProgress?: ProgressListener): Promise<OpmlImportResult> {
    return this.request({ op: 'importOpml', text }, onProgress);
  }

  exportOpml(): Promise<string> {
    return this.request({ op: 'exportOpml' });
  }

  /** A dropped or picked file: OPML is imported, a feed or JSON Lines file becomes a source. */
  addFile(name: string, text: string, onProgress?: ProgressListener): Promise<IngestResult | OpmlImportResult> {
    return this.request({ op: 'addFile', name, text }, onProgress);
  }

  setCorsProxy(corsProxy: string): Promise<{ corsProxy: string }> {
    return this.request({ op: 'setCorsProxy', corsProxy });
  }

  /** Chooses the embedder labels use in every tab (`'glove'` loads its table first). */
  setEmbedder(embedder: EmbedderKind): Promise<{ embedder: EmbedderKind; id: string }> {
    return this.request({ op: 'setEmbedder', embedder });
  }

  /** The items that carry the label, best first (the same in every tab holding the same state). */
  labelRanking(labelId: string): Promise<LabelRankingView> {
    return this.request({ op: 'labelRanking', labelId });
  }

  createLabel(name: string, options: { threshold?: number; margin?: number } = {}): Promise<LabelView> {
    return this.request({ op: 'createLabel', name, ...options });
  }

  editLabel(labelId: string, changes: { name?: string; threshold?: number; margin?: number }): Promise<LabelView> {
    return this.request({ op: 'editLabel', labelId, ...changes });
  }

  addPositive(labelId: string, itemId: string): Promise<LabelView> {
    return this.request({ op: 'addPositive', labelId, itemId });
  }

  addHardNegative(labelId: string, itemId: string): Promise<LabelView> {
    return this.request({ op: 'addHardNegative', labelId, itemId });
  }

  unmarkHardNegative(labelId: string, itemId: string): Promise<LabelView> {
    return this.request({ op: 'unmarkHardNegative', labelId, itemId });
  }

  /** Preference pairs `{ prompt, chosen, rejected, … }`, one JSON object a line. */
  exportPreferences(): Promise<string> {
    return this.request({ op: 'exportPreferences' });
  }

  /** KTO rows `{ prompt, completion, label, … }`, one a line. */
  exportKto(): Promise<string> {
    return this.request({ op: 'exportKto' });
  }

  /** Every signal, one a line. */
  exportSignals(): Promise<string> {
    return this.request({ op: 'exportSignals' });
  }
}
