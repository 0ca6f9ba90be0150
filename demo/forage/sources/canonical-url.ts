/**
 * One URL per story: the canonical form Forage deduplicates items by.
 * Two links that differ only in what does not change the page they lead to
 * (the case of the scheme and host, a default port, a fragment, tracking
 * parameters, the order of the other parameters, a trailing slash) have the
 * same canonical form.
 *
 *     canonicalUrl('HTTPS://Example.com/a/?utm_source=rss&b=2&a=1#top') // 'https://example.com/a?a=1&b=2'
 */

/** Parameters that only say where a click came from. Matched case-insensitively; `utm_*` by prefix. */
const TRACKING_PARAMETERS = new Set([
  'fbclid',
  'gclid',
  'gclsrc',
  'dclid',
  'msclkid',
  'yclid',
  'twclid',
  'igshid',
  'mc_cid',
  'mc_eid',
  '_ga',
  '_gl',
  '_hsenc',
  '_hsmi',
  'mkt_tok',
  'oly_anon_id',
  'oly_enc_id',
  'vero_id',
  'wickedid',
  'ref_src',
  'ref_url',
  'cmpid',
  's_cid',
  'rss',
  'feature',
]);

function isTracking(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith('utm_') || TRACKING_PARAMETERS.has(lower);
}

/**
 * The canonical form of `raw` (resolved against `base` when relative), or
 * `undefined` when it is not an http(s) URL: a `javascript:` or `data:` link
 * from a feed is never kept.
 */
export function canonicalUrl(raw: string, base?: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim(), base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  // URL already lowercases the scheme and host and drops a default port.
  url.hash = '';
  url.username = '';
  url.password = '';
  const kept = [...url.searchParams].filter(([name]) => !isTracking(name));
  kept.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  url.search = kept.length === 0 ? '' : new URLSearchParams(kept).toString();
  if (url.pathname.length > 1 && url.pathname.endsWith('/')) url.pathname = url.pathname.replace(/\/+$/, '') || '/';
  return url.toString();
}
