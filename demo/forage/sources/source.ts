/**
 * A `Source` is anything Forage reads items from: a feed by URL (RSS 2.0,
 * Atom, JSON Feed), a file the user dropped or picked (a feed file, JSON
 * Lines of items), or a feed of the starter bundle the demo ships. Each
 * yields a `FeedBatch` of normalised items when loaded; loading again is
 * how a source is refreshed (the store merges by item identity, so a
 * refresh adds only what is new).
 *
 *     const source = feedSource(new URL('https://example.com/feed.xml'), policy);
 *     const batch = await source.load((p) => showProgress(p.bytes));
 *
 * OPML is not a source but a list of them: see `opml.ts`.
 */
import { blake3 } from 'hash-wasm';
import { TidalError } from '../../../src/index.js';
import { canonicalUrl } from './canonical-url.js';
import type { FeedBatch } from './feed-item.js';
import { fetchFeedText, type FetchPolicy, type FetchProgress } from './fetch-feed.js';
import { parseFeedDocument, parseJsonLines, type ParseOptions } from './parse.js';

/** What kind of place a source's items come from. */
export type SourceKind = 'feed' | 'file' | 'starter';

/** A source as the user's list holds it. */
export interface SourceSpec {
  /** `feed-…`, `file-…` or `starter-…`: a digest of where it comes from, so adding the same feed twice (in any tab) is one source. */
  readonly id: string;
  readonly kind: SourceKind;
  /** The feed's canonical URL; for a file, `file:<name>`. */
  readonly url: string;
  readonly title: string;
  /** A folder, from OPML; `''` for none. */
  readonly category: string;
}

/** Something Forage can read items from. */
export interface Source {
  readonly spec: SourceSpec;
  /** Fetches or reads the source and parses its items. Refreshing is loading again. */
  load(onProgress?: FetchProgress): Promise<FeedBatch>;
}

/** The id of the source at `where` (a canonical URL or `file:<name>`). */
export async function sourceId(kind: SourceKind, where: string): Promise<string> {
  return `${kind}-${(await blake3(where, 64)).slice(0, 16)}`;
}

/** A feed fetched from `url` under `policy`. */
export async function feedSource(
  url: URL,
  policy: FetchPolicy,
  options: { title?: string; category?: string; kind?: 'feed' | 'starter'; parse?: ParseOptions } = {},
): Promise<Source> {
  const canonical = canonicalUrl(url.href) ?? url.href;
  const kind = options.kind ?? 'feed';
  const spec: SourceSpec = {
    id: await sourceId(kind, canonical),
    kind,
    url: canonical,
    title: options.title ?? url.hostname,
    category: options.category ?? '',
  };
  return {
    spec,
    async load(onProgress) {
      const fetched = await fetchFeedText(url, policy, onProgress);
      return parseFeedDocument(fetched.text, { ...options.parse, base: fetched.url });
    },
  };
}

/** What a dropped or picked file holds, judged by its name and first characters. */
export type FileContent = 'opml' | 'json-lines' | 'feed';

export function classifyFile(name: string, text: string): FileContent {
  const lower = name.toLowerCase();
  const head = text.trimStart().slice(0, 512).toLowerCase();
  if (lower.endsWith('.opml') || /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<opml[\s>]/.test(head)) return 'opml';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'json-lines';
  if (head.startsWith('{')) {
    // One JSON object over several lines is a JSON Feed; several objects, one a line, is JSON Lines.
    const firstLine = text.trimStart().split('\n', 1)[0]!;
    try {
      JSON.parse(firstLine);
      return text.trim().includes('\n') ? 'json-lines' : 'feed';
    } catch {
      return 'feed';
    }
  }
  return 'feed';
}

/** Bound on the text of a dropped or picked file. */
export const MAX_FILE_CHARS = 8 * 1024 * 1024;

/** A feed file or JSON Lines file the user dropped or picked; `name` is the file's name. */
export async function fileSource(name: string, text: string, parse: ParseOptions = {}): Promise<Source> {
  if (name.trim() === '') throw new TidalError('InvalidArgument', 'name: a file needs a name');
  if (text.length > MAX_FILE_CHARS)
    throw new TidalError('PayloadTooLarge', `${name}: ${text.length} characters, more than ${MAX_FILE_CHARS}`);
  const content = classifyFile(name, text);
  if (content === 'opml') throw new TidalError('InvalidArgument', `${name}: an OPML file lists sources; import it instead`);
  const where = `file:${name}`;
  const spec: SourceSpec = { id: await sourceId('file', where), kind: 'file', url: where, title: name, category: '' };
  return {
    spec,
    load: () => (content === 'json-lines' ? parseJsonLines(text, parse) : parseFeedDocument(text, parse)),
  };
}
