/**
 * The user's sources as OPML, the format feed readers exchange
 * subscriptions in: import (every outline with an `xmlUrl`, at any depth,
 * its folder kept as a category) and export.
 *
 *     const feeds = parseOpmlDocument(text); // [{ url, title, category }]
 *     const text = opmlDocument('Forage', feeds);
 */
import { generateOpml, parseOpml, type Opml } from 'feedsmith';
import { TidalError } from '../../../src/index.js';
import { canonicalUrl } from './canonical-url.js';
import { plainText } from './text.js';

/** Bound on the feeds one OPML file may add. */
export const MAX_OPML_FEEDS = 500;
const MAX_DEPTH = 16;

/** A subscription as OPML carries it. */
export interface OpmlFeed {
  /** The feed's URL, as an absolute http(s) URL. */
  readonly url: string;
  readonly title: string;
  /** The outline folder it was in, `''` at the top level. */
  readonly category: string;
}

interface UntrustedOutline {
  readonly text?: unknown;
  readonly title?: unknown;
  readonly xmlUrl?: unknown;
  readonly outlines?: unknown;
}

/**
 * The feeds of an OPML document. Refuses a document that is not OPML, or
 * holds no feed, with `MalformedMessage`; outlines whose `xmlUrl` is not an
 * http(s) URL are counted in `invalid` and left out.
 */
export function parseOpmlDocument(document: string): { feeds: OpmlFeed[]; invalid: number } {
  let parsed: unknown;
  try {
    parsed = parseOpml(document);
  } catch (cause) {
    throw new TidalError('MalformedMessage', 'not an OPML file: expected <opml> with a <body> of <outline> elements', { cause });
  }
  const feeds: OpmlFeed[] = [];
  const seen = new Set<string>();
  let invalid = 0;
  const visit = (outlines: unknown, category: string, depth: number): void => {
    if (!Array.isArray(outlines) || depth > MAX_DEPTH) return;
    for (const outline of outlines as UntrustedOutline[]) {
      if (outline === null || typeof outline !== 'object') continue;
      const name = plainText(typeof outline.title === 'string' ? outline.title : typeof outline.text === 'string' ? outline.text : '', 200);
      if (typeof outline.xmlUrl === 'string') {
        const url = canonicalUrl(outline.xmlUrl);
        if (url === undefined) invalid += 1;
        else if (!seen.has(url)) {
          seen.add(url);
          feeds.push({ url, title: name || url, category });
        }
      }
      visit(outline.outlines, outline.xmlUrl === undefined ? name : category, depth + 1);
    }
  };
  visit((parsed as { body?: { outlines?: unknown } }).body?.outlines, '', 0);
  if (feeds.length === 0) {
    throw new TidalError(
      'MalformedMessage',
      `OPML file holds no feed (no outline with an http(s) xmlUrl${invalid ? `; ${invalid} invalid` : ''})`,
    );
  }
  if (feeds.length > MAX_OPML_FEEDS) {
    throw new TidalError('PayloadTooLarge', `OPML file holds ${feeds.length} feeds, more than ${MAX_OPML_FEEDS}`);
  }
  return { feeds, invalid };
}

/** An OPML 2.0 document listing `feeds`, grouped in folders by category. */
export function opmlDocument(title: string, feeds: readonly OpmlFeed[]): string {
  type Outline = Opml.Outline<Date>;
  const outline = (feed: OpmlFeed): Outline => ({ text: feed.title, title: feed.title, type: 'rss', xmlUrl: feed.url });
  const categories = [...new Set(feeds.map((f) => f.category))];
  const outlines = categories.flatMap((category): Outline[] => {
    const members = feeds.filter((f) => f.category === category).map(outline);
    return category === '' ? members : [{ text: category, title: category, outlines: members }];
  });
  return generateOpml({ head: { title, dateCreated: new Date() }, body: { outlines } }) as string;
}
