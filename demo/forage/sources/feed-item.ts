/**
 * What every source yields: items normalised to one shape, whatever the
 * format they came in (RSS 2.0, Atom, JSON Feed, JSON Lines, the starter
 * bundle), with the two keys they are deduplicated by.
 */

/** Bounds on what one item may hold once normalised; longer text is cut at a word. */
export const MAX_TITLE_CHARS = 300;
export const MAX_SUMMARY_CHARS = 600;

/** One item of a feed, normalised. */
export interface FeedItem {
  /** Plain text, never empty. */
  readonly title: string;
  /** Plain text (markup stripped), possibly empty. */
  readonly summary: string;
  /** The canonical URL (see `canonicalUrl`), or `''` when the item links nowhere. */
  readonly url: string;
  /** Milliseconds since the epoch, or `undefined` when the feed gave no (readable) date. */
  readonly published: number | undefined;
  /** Hex digest of the normalised title and summary: the second dedupe key (see `contentKey`). */
  readonly contentHash: string;
}

/** A source's items, as one fetch or file yielded them. */
export interface FeedBatch {
  /** The feed's own title, when it has one. */
  readonly title: string | undefined;
  readonly items: readonly FeedItem[];
  /** Items the feed held past the bound on items per fetch, or without a title or text: left out. */
  readonly skipped: number;
}

/**
 * The text the content hash covers: title and summary, lowercased, with
 * punctuation and whitespace runs folded, so that the same story syndicated
 * with different quoting or spacing has one hash.
 */
export function contentKey(title: string, summary: string): string {
  const fold = (text: string): string =>
    text
      .toLowerCase()
      .normalize('NFKC')
      .replace(/[^\p{L}\p{N}]+/gu, ' ')
      .trim();
  return `${fold(title)}\n${fold(summary)}`;
}
