/**
 * Forage's operations as wire types, apart from the logic: one request type
 * and one response type per operation, keyed by the operation's name. The
 * page sends `{ op, ...fields }` to Forage's worker (`ForageWorkerApi.handle`)
 * and gets the operation's response, or a `TidalError` whose message names
 * the field that was wrong.
 *
 *     const slate = await worker.handle({ op: 'nextSlate', context: { kind: 'feed' } });
 */
import type { PosteriorSummary } from '../bandit/index.js';
import type { SignalKind, SignalRecord, SlateContext } from '../export/index.js';
import type { SourceKind } from '../sources/index.js';
import type { ItemCounters, SourceStatus } from '../store/index.js';
import type { EmbedderKind } from './context.js';

/** The context a slate is drawn in, as a request names it (the handler adds the names). */
export type ContextRequest =
  { readonly kind: 'feed' } | { readonly kind: 'label'; readonly labelId: string } | { readonly kind: 'source'; readonly sourceId: string };

/** An item as the page shows it. */
export interface ItemView {
  readonly id: string;
  readonly title: string;
  readonly url: string;
  /** The source the item was drawn for (in a slate) or first came from. */
  readonly source: string;
  readonly sourceTitle: string;
  /** Every source it came from (a story syndicated by two feeds is one item). */
  readonly sources: readonly { readonly id: string; readonly title: string }[];
  readonly summary: string;
  readonly published: number;
  /** Names of the labels it carries. */
  readonly labels: readonly string[];
  readonly labelIds: readonly string[];
  readonly counters: ItemCounters;
}

/** A drawn slate: what `nextSlate` returns. `id` is `''` and `items` empty when there is nothing left to draw. */
export interface SlateView {
  readonly id: string;
  readonly at: number;
  readonly tab: string;
  readonly context: SlateContext;
  readonly items: readonly ItemView[];
}

export interface SourceView {
  readonly id: string;
  readonly kind: SourceKind;
  readonly title: string;
  readonly url: string;
  readonly category: string;
  /** The bandit's discounted Beta posterior over "an item of this source is clicked or liked". */
  readonly posterior: { readonly alpha: number; readonly beta: number };
  readonly summary: PosteriorSummary;
  /** Items Forage holds from it. */
  readonly items: number;
  readonly status: SourceStatus | undefined;
}

export interface LabelView {
  readonly id: string;
  readonly name: string;
  readonly threshold: number;
  readonly margin: number;
  readonly positives: readonly string[];
  readonly hardNegatives: readonly string[];
  /** Items that carry it now. */
  readonly items: number;
}

/** The items that carry a label, best first (by s⁺, then id): the same in every tab that holds the same state. */
export interface LabelRankingView {
  readonly labelId: string;
  readonly name: string;
  readonly items: readonly { readonly id: string; readonly title: string; readonly positive: number; readonly negative: number }[];
}

/** Everything the page shows, from one read of the state. */
export interface ForageView {
  readonly sources: readonly SourceView[];
  readonly labels: readonly LabelView[];
  /** The slates of the context, newest first, with the items not yet dismissed. */
  readonly feed: readonly SlateView[];
  readonly counts: {
    readonly items: number;
    readonly slates: number;
    readonly click: number;
    readonly like: number;
    readonly dismiss: number;
  };
  /** The posterior chart, SVG markup (names escaped). */
  readonly chart: string;
  readonly corsProxy: string;
  /** The embedder labels use: the one the settings name, and why another is in use (`error`) if it could not be loaded. */
  readonly embedder: { readonly kind: EmbedderKind; readonly id: string; readonly error: string };
  /** Stored entities skipped as malformed. */
  readonly malformed: number;
}

/** A recorded signal; `hardNegativeOf` is the label it made the item a hard negative of (a dismiss while viewing a label). */
export interface SignalView {
  readonly signal: SignalRecord;
  readonly hardNegativeOf: string | undefined;
}

/** What a fetch or import added. */
export interface IngestResult {
  readonly sourceId: string;
  readonly title: string;
  readonly items: number;
  readonly added: number;
  /** Items that were already there from another source (or an earlier fetch). */
  readonly merged: number;
  readonly skipped: number;
}

export interface OpmlImportResult {
  readonly feeds: number;
  /** Outlines whose xmlUrl was not an http(s) URL. */
  readonly invalid: number;
  readonly results: readonly (
    | { readonly url: string; readonly ok: true; readonly result: IngestResult }
    | { readonly url: string; readonly ok: false; readonly error: string }
  )[];
}

/** Progress of a long operation, for the page to show where it happens. */
export interface Progress {
  readonly phase: 'fetching' | 'parsing' | 'storing';
  /** What is being worked on (a URL, a file name). */
  readonly subject: string;
  readonly bytes?: number;
  readonly total?: number;
  readonly items?: number;
}

/** The request fields of an operation that takes none. */
export type NoFields = Record<never, never>;

/** Every operation: its request fields and its response. */
export interface Operations {
  view: { request: { context?: ContextRequest; slates?: number }; response: ForageView };
  nextSlate: { request: { context?: ContextRequest; size?: number }; response: SlateView };
  signal: { request: { itemId: string; kind: SignalKind; slateId: string }; response: SignalView };
  sources: { request: NoFields; response: SourceView[] };
  addSource: { request: { url: string; title?: string; category?: string }; response: IngestResult };
  refreshSource: { request: { sourceId: string }; response: IngestResult };
  removeSource: { request: { sourceId: string }; response: { sourceId: string } };
  addStarter: { request: { onlyIfEmpty?: boolean }; response: IngestResult[] };
  importOpml: { request: { text: string }; response: OpmlImportResult };
  exportOpml: { request: NoFields; response: string };
  addFile: { request: { name: string; text: string }; response: IngestResult | OpmlImportResult };
  setCorsProxy: { request: { corsProxy: string }; response: { corsProxy: string } };
  setEmbedder: { request: { embedder: EmbedderKind }; response: { embedder: EmbedderKind; id: string } };
  labels: { request: NoFields; response: LabelView[] };
  labelRanking: { request: { labelId: string }; response: LabelRankingView };
  createLabel: { request: { name: string; threshold?: number; margin?: number }; response: LabelView };
  editLabel: { request: { labelId: string; name?: string; threshold?: number; margin?: number }; response: LabelView };
  addPositive: { request: { labelId: string; itemId: string }; response: LabelView };
  addHardNegative: { request: { labelId: string; itemId: string }; response: LabelView };
  unmarkHardNegative: { request: { labelId: string; itemId: string }; response: LabelView };
  exportPreferences: { request: NoFields; response: string };
  exportKto: { request: NoFields; response: string };
  exportSignals: { request: NoFields; response: string };
}

export type OperationName = keyof Operations;
/** A request: the operation's name and its fields. */
export type ForageRequest<K extends OperationName = OperationName> = { [N in K]: { readonly op: N } & Operations[N]['request'] }[K];
export type ForageResponse<K extends OperationName> = Operations[K]['response'];

/** What Forage's worker exposes over comlink. */
export interface ForageWorkerApi {
  /** Hands the worker the page's database (see store/db.ts) and the facts it cannot find out itself. */
  connect(port: MessagePort, options: { tab: string; origin: string }): void;
  /** Runs one operation; `onProgress` (a comlink proxy) hears about fetches and imports. */
  handle<K extends OperationName>(request: ForageRequest<K>, onProgress?: (progress: Progress) => void): Promise<ForageResponse<K>>;
}
