/**
 * The handlers that change the user's sources: add a feed by URL, refresh
 * or remove one, add the starter bundle, import and export OPML, add a file,
 * set the CORS proxy. A source is fetched and parsed before anything of it
 * is stored: a feed that cannot be fetched, or is not a feed, leaves the
 * store as it was (a refresh that fails records the failure in the source's
 * status, where every tab shows it).
 */
import { isTidalError } from '../../../src/index.js';
import {
  STARTER_FEEDS,
  classifyFile,
  feedSource,
  feedUrl,
  fileSource,
  opmlDocument,
  parseOpmlDocument,
  plainText,
  starterUrl,
  type FetchPolicy,
  type Source,
  type SourceSpec,
} from '../sources/index.js';
import { SETTINGS_KEY, loadState, setField, sourceKey, type ForageState } from '../store/index.js';
import type { HandlerContext } from './context.js';
import { ingest, storeSourceStatus } from './ingest.js';
import type { IngestResult, OpmlImportResult } from './operations.js';
import { fields, id, invalid, optionalString, requiredString } from './validate.js';

/** Bound on the text of an OPML file or a dropped file, in characters. */
const MAX_DOCUMENT_CHARS = 8 * 1024 * 1024;

function policy(ctx: HandlerContext, state: ForageState): FetchPolicy {
  return { origin: ctx.origin, corsProxy: state.settings.corsProxy, ...(ctx.fetch ? { fetch: ctx.fetch } : {}) };
}

/** Loads `source` (reporting progress) and merges it; nothing is stored when loading fails. */
async function loadAndIngest(ctx: HandlerContext, source: Source, title?: string): Promise<IngestResult> {
  ctx.progress({ phase: 'fetching', subject: source.spec.url });
  const batch = await source.load((p) =>
    ctx.progress({ phase: 'fetching', subject: source.spec.url, bytes: p.bytes, ...(p.total ? { total: p.total } : {}) }),
  );
  ctx.progress({ phase: 'parsing', subject: source.spec.url, items: batch.items.length });
  const spec: SourceSpec = { ...source.spec, title: title ?? batch.title ?? source.spec.title };
  // Read the state after the fetch: another tab may have stored some of these items meanwhile.
  const state = await loadState(ctx.db);
  return ingest(ctx, state, spec, batch);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function addSource(ctx: HandlerContext, request: unknown): Promise<IngestResult> {
  const input = fields(request);
  const url = feedUrl(input['url'], 'url');
  const title = optionalString(input['title'], 'title', 300);
  const category = optionalString(input['category'], 'category', 300) ?? '';
  const state = await loadState(ctx.db);
  const source = await feedSource(url, policy(ctx, state), { category, ...(title ? { title: plainText(title, 300) } : {}) });
  return loadAndIngest(ctx, source, title === undefined ? undefined : plainText(title, 300));
}

/** The source `sourceId` names, or `InvalidArgument` naming the field. */
function knownSource(state: ForageState, sourceId: string) {
  const source = state.sources.get(sourceId);
  if (!source || source.removed) throw invalid('sourceId', `names no source of yours (${JSON.stringify(sourceId)})`);
  return source;
}

export async function refreshSource(ctx: HandlerContext, request: unknown): Promise<IngestResult> {
  const sourceId = id(fields(request)['sourceId'], 'sourceId');
  const state = await loadState(ctx.db);
  const { spec } = knownSource(state, sourceId);
  if (spec.kind === 'file') throw invalid('sourceId', `is the file ${spec.title}: refresh it by dropping the file again`);
  const source = await feedSource(new URL(spec.url), policy(ctx, state), { title: spec.title, category: spec.category, kind: spec.kind });
  try {
    return await loadAndIngest(ctx, source, spec.title);
  } catch (error) {
    await storeSourceStatus(ctx, spec.id, { at: ctx.now(), items: 0, added: 0, error: errorText(error) });
    throw error;
  }
}

export async function removeSource(ctx: HandlerContext, request: unknown): Promise<{ sourceId: string }> {
  const sourceId = id(fields(request)['sourceId'], 'sourceId');
  knownSource(await loadState(ctx.db), sourceId);
  await ctx.db.write([setField(sourceKey(sourceId), 'removed', true)]);
  return { sourceId };
}

/**
 * Adds the starter bundle's feeds. With `onlyIfEmpty` (the first start), only when the user has no
 * source at all, not even a removed one: a user who removed the starter feeds does not get them back.
 */
export async function addStarter(ctx: HandlerContext, request: unknown): Promise<IngestResult[]> {
  const onlyIfEmpty = fields(request)['onlyIfEmpty'];
  if (onlyIfEmpty !== undefined && typeof onlyIfEmpty !== 'boolean') throw invalid('onlyIfEmpty', 'must be a boolean');
  const state = await loadState(ctx.db);
  if (onlyIfEmpty && state.sources.size > 0) return [];
  const results: IngestResult[] = [];
  for (const feed of STARTER_FEEDS) {
    const source = await feedSource(starterUrl(feed.file, ctx.starterBase), policy(ctx, state), {
      title: feed.title,
      category: feed.category,
      kind: 'starter',
    });
    results.push(await loadAndIngest(ctx, source, feed.title));
  }
  return results;
}

/**
 * Imports an OPML file: the whole file is parsed first (a malformed one stores nothing), then each
 * feed is fetched and stored on its own; a feed that cannot be fetched is reported in the result and
 * not added.
 */
export async function importOpml(ctx: HandlerContext, request: unknown): Promise<OpmlImportResult> {
  const text = requiredString(fields(request)['text'], 'text', MAX_DOCUMENT_CHARS);
  const { feeds, invalid: invalidOutlines } = parseOpmlDocument(text);
  const state = await loadState(ctx.db);
  const results: OpmlImportResult['results'][number][] = [];
  for (const feed of feeds) {
    try {
      const source = await feedSource(new URL(feed.url), policy(ctx, state), { title: feed.title, category: feed.category });
      results.push({ url: feed.url, ok: true, result: await loadAndIngest(ctx, source, feed.title) });
    } catch (error) {
      if (!isTidalError(error)) throw error;
      results.push({ url: feed.url, ok: false, error: error.message });
    }
  }
  return { feeds: feeds.length, invalid: invalidOutlines, results };
}

export async function exportOpml(ctx: HandlerContext): Promise<string> {
  const state = await loadState(ctx.db);
  const feeds = [...state.sources.values()]
    .filter((s) => !s.removed && s.spec.kind !== 'file')
    .map((s) => ({ url: s.spec.url, title: s.spec.title, category: s.spec.category }));
  return opmlDocument('Forage sources', feeds);
}

/** A dropped or picked file: OPML is imported, a feed or JSON Lines file becomes a source. */
export async function addFile(ctx: HandlerContext, request: unknown): Promise<IngestResult | OpmlImportResult> {
  const input = fields(request);
  const name = requiredString(input['name'], 'name', 300);
  const text = requiredString(input['text'], 'text', MAX_DOCUMENT_CHARS);
  if (classifyFile(name, text) === 'opml') return importOpml(ctx, { text });
  const source = await fileSource(name, text);
  return loadAndIngest(ctx, source, name);
}

export async function setCorsProxy(ctx: HandlerContext, request: unknown): Promise<{ corsProxy: string }> {
  const raw = fields(request)['corsProxy'];
  if (typeof raw !== 'string') throw invalid('corsProxy', 'must be a string (empty for none)');
  const corsProxy = raw.trim();
  // The proxy's own URL, with {url} (or the appended feed URL) left out, must be an http(s) URL.
  if (corsProxy !== '') feedUrl(corsProxy.replace('{url}', ''), 'corsProxy');
  await ctx.db.write([setField(SETTINGS_KEY, 'corsProxy', corsProxy)]);
  return { corsProxy };
}
