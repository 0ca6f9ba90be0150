/**
 * Feed documents to `FeedBatch`es: RSS 2.0 (and 0.9x, RDF), Atom and JSON
 * Feed through `feedsmith`, which needs no DOM and tolerates broken feeds;
 * JSON Lines of items by hand. Everything in a feed is untrusted: each field
 * is read only if it has the expected type, text is made plain and bounded,
 * links must be http(s), and at most `maxItems` items are kept.
 *
 *     const batch = await parseFeedDocument(text, { base: url, maxItems: 500 });
 */
import { blake3 } from 'hash-wasm';
import { parseFeed } from 'feedsmith';
import { TidalError } from '../../../src/index.js';
import { canonicalUrl } from './canonical-url.js';
import { MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, contentKey, type FeedBatch, type FeedItem } from './feed-item.js';
import { plainText, truncate } from './text.js';

/** Default bound on the items kept from one fetch or file. */
export const DEFAULT_MAX_ITEMS = 500;
/** Bound on the lines of a JSON Lines file. */
const MAX_JSON_LINES = 10_000;
/** The largest time a `Date` holds. */
const MAX_DATE_MS = 8.64e15;

export interface ParseOptions {
  /** The document's own URL: relative links resolve against it. */
  readonly base?: string;
  /** Default `DEFAULT_MAX_ITEMS`. */
  readonly maxItems?: number;
}

/** A field of an untrusted object, if it is a non-empty string. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  // Atom text constructs are `{ value, type }`.
  if (value !== null && typeof value === 'object' && typeof (value as { value?: unknown }).value === 'string') {
    return text((value as { value: string }).value);
  }
  return undefined;
}

function firstOf(...values: unknown[]): string | undefined {
  for (const value of values) {
    const found = text(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function date(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The fields of one item before they are made plain: raw strings picked per format. */
interface RawItem {
  readonly title: string | undefined;
  readonly summary: string | undefined;
  readonly link: string | undefined;
  readonly published: string | undefined;
}

function rssItem(item: Record<string, unknown>): RawItem {
  const dc = record(item['dc']);
  const guid = record(item['guid']);
  const guidLink = guid['isPermaLink'] !== false ? text(guid['value']) : undefined;
  return {
    title: text(item['title']),
    summary: firstOf(item['description'], record(item['content'])['encoded']),
    link: firstOf(item['link'], guidLink),
    published: firstOf(item['pubDate'], list(dc['dates'])[0], dc['date']),
  };
}

function atomEntry(entry: Record<string, unknown>): RawItem {
  const links = list(entry['links']).map(record);
  const alternate = links.find((l) => l['rel'] === undefined || l['rel'] === 'alternate');
  return {
    title: text(entry['title']),
    summary: firstOf(entry['summary'], entry['content']),
    link: text(alternate?.['href']),
    published: firstOf(entry['published'], entry['updated']),
  };
}

function jsonFeedItem(item: Record<string, unknown>): RawItem {
  return {
    title: text(item['title']),
    summary: firstOf(item['summary'], item['content_text'], item['content_html']),
    link: firstOf(item['url'], item['external_url']),
    published: firstOf(item['date_published'], item['date_modified']),
  };
}

/** A raw item made plain and keyed; `undefined` when it has neither a title nor any text. */
async function normalise(raw: RawItem, base: string | undefined): Promise<FeedItem | undefined> {
  const summary = raw.summary === undefined ? '' : plainText(raw.summary, MAX_SUMMARY_CHARS);
  const title = raw.title === undefined ? truncate(summary, 120) : plainText(raw.title, MAX_TITLE_CHARS);
  if (title === '') return undefined;
  const url = (raw.link === undefined ? undefined : canonicalUrl(raw.link, base)) ?? '';
  const contentHash = await blake3(contentKey(title, summary), 128);
  return { title, summary, url, published: date(raw.published), contentHash };
}

async function toBatch(title: string | undefined, raws: readonly RawItem[], options: ParseOptions, skipped = 0): Promise<FeedBatch> {
  const maxItems = options.maxItems ?? DEFAULT_MAX_ITEMS;
  const items: FeedItem[] = [];
  for (const raw of raws.slice(0, maxItems)) {
    const item = await normalise(raw, options.base);
    if (item) items.push(item);
    else skipped += 1;
  }
  skipped += Math.max(0, raws.length - maxItems);
  return { title: title === undefined ? undefined : plainText(title, MAX_TITLE_CHARS) || undefined, items, skipped };
}

/**
 * Parses an RSS, RDF, Atom or JSON Feed document. Refuses anything else with
 * `MalformedMessage` ("not a feed"), naming what the text looked like.
 */
export async function parseFeedDocument(document: string, options: ParseOptions = {}): Promise<FeedBatch> {
  let parsed: ReturnType<typeof parseFeed>;
  try {
    parsed = parseFeed(document);
  } catch (cause) {
    const head = document.trimStart().slice(0, 15).toLowerCase();
    const looksLike =
      head.startsWith('<!doctype html') || head.startsWith('<html') ? 'an HTML page' : head === '' ? 'empty' : 'not RSS, Atom or JSON Feed';
    throw new TidalError('MalformedMessage', `not a feed: the document is ${looksLike}`, { cause });
  }
  const feed = record(parsed.feed);
  switch (parsed.format) {
    case 'rss':
    case 'rdf':
      return toBatch(text(feed['title']), list(feed['items']).map(record).map(rssItem), options);
    case 'atom':
      return toBatch(text(feed['title']), list(feed['entries']).map(record).map(atomEntry), options);
    case 'json':
      return toBatch(text(feed['title']), list(feed['items']).map(record).map(jsonFeedItem), options);
  }
}

/**
 * Parses JSON Lines of items, one object a line:
 * `{"title": "…", "url": "…", "summary": "…", "published": "2026-01-01T00:00:00Z"}` (`title` or
 * `summary` required; `published` an ISO date or epoch milliseconds). Blank lines are skipped; a
 * line that is not such an object refuses the whole file with `InvalidArgument` naming the line.
 */
export async function parseJsonLines(document: string, options: ParseOptions = {}): Promise<FeedBatch> {
  const lines = document.split(/\r?\n/);
  if (lines.length > MAX_JSON_LINES) {
    throw new TidalError('PayloadTooLarge', `JSON Lines file has ${lines.length} lines, more than ${MAX_JSON_LINES}`);
  }
  const raws: RawItem[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new TidalError('InvalidArgument', `line ${index + 1}: not JSON`, { details: { line: index + 1 } });
    }
    const item = record(value);
    if (text(item['title']) === undefined && text(item['summary']) === undefined) {
      throw new TidalError('InvalidArgument', `line ${index + 1}: an item needs a "title" or a "summary" string`, {
        details: { line: index + 1 },
      });
    }
    const published = item['published'];
    raws.push({
      title: text(item['title']),
      summary: text(item['summary']),
      link: text(item['url']),
      published: typeof published === 'number' && Math.abs(published) <= MAX_DATE_MS ? new Date(published).toISOString() : text(published),
    });
  });
  if (raws.length === 0) throw new TidalError('InvalidArgument', 'JSON Lines file holds no items');
  return toBatch(undefined, raws, options);
}
