/** Where Forage's items come from: feeds by URL, files, the starter bundle, OPML lists of feeds. */
export { canonicalUrl } from './canonical-url.js';
export { MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, contentKey } from './feed-item.js';
export type { FeedBatch, FeedItem } from './feed-item.js';
export { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_FEED_BYTES, feedUrl, fetchFeedText, requestUrl } from './fetch-feed.js';
export type { FetchPolicy, FetchProgress } from './fetch-feed.js';
export { MAX_OPML_FEEDS, opmlDocument, parseOpmlDocument } from './opml.js';
export type { OpmlFeed } from './opml.js';
export { DEFAULT_MAX_ITEMS, parseFeedDocument, parseJsonLines } from './parse.js';
export type { ParseOptions } from './parse.js';
export { MAX_FILE_CHARS, classifyFile, feedSource, fileSource, sourceId } from './source.js';
export type { FileContent, Source, SourceKind, SourceSpec } from './source.js';
export { STARTER_FEEDS, starterUrl } from './starter.js';
export type { StarterFeed } from './starter.js';
export { plainText } from './text.js';
