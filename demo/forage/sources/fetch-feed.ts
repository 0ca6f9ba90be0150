/**
 * Fetching a feed's bytes, bounded. Same-origin URLs are fetched directly;
 * other origins through the configured CORS proxy when there is one (a
 * browser may not read another origin's response unless that origin allows
 * it), else directly, in case the origin sends CORS headers. Every way a
 * fetch can fail ends in a `TidalError` whose message says what happened and
 * what to do: `InvalidArgument` (not an http(s) URL), `Unreachable` (network,
 * CORS, an HTTP error status: `details.status`), `PayloadTooLarge` (past
 * `maxBytes`, read as a stream and cut off there), `Timeout`.
 *
 *     const { text, url } = await fetchFeedText('https://example.com/feed.xml', policy);
 */
import { TidalError } from '../../../src/index.js';

/** Defaults of `FetchPolicy`. */
export const DEFAULT_MAX_FEED_BYTES = 4 * 1024 * 1024;
export const DEFAULT_FETCH_TIMEOUT_MS = 15_000;

/** How feeds are fetched. */
export interface FetchPolicy {
  /** The page's origin: URLs on it are fetched directly. */
  readonly origin: string;
  /**
   * The CORS proxy for other origins, as a URL with `{url}` where the feed's URL goes (encoded), e.g.
   * `https://proxy.example/?url={url}`; without `{url}` the encoded URL is appended. `''`: none.
   */
  readonly corsProxy: string;
  /** Default `DEFAULT_MAX_FEED_BYTES`. */
  readonly maxBytes?: number;
  /** Default `DEFAULT_FETCH_TIMEOUT_MS`. */
  readonly timeoutMs?: number;
  /** Injected for tests; default the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/** Progress of one fetch: bytes read so far and, when the server said, the total. */
export type FetchProgress = (progress: { readonly bytes: number; readonly total: number | undefined }) => void;

/** The URL actually requested for `url` under `policy`. */
export function requestUrl(url: URL, policy: FetchPolicy): string {
  if (url.origin === policy.origin || policy.corsProxy === '') return url.href;
  const encoded = encodeURIComponent(url.href);
  return policy.corsProxy.includes('{url}') ? policy.corsProxy.replace('{url}', encoded) : `${policy.corsProxy}${encoded}`;
}

/** Parses a feed URL the user typed, or refuses it naming the field. */
export function feedUrl(raw: unknown, field = 'url'): URL {
  if (typeof raw !== 'string' || raw.trim() === '') throw new TidalError('InvalidArgument', `${field}: a feed URL is required`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new TidalError('InvalidArgument', `${field}: "${raw.slice(0, 200)}" is not a URL (expected https://…)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TidalError('InvalidArgument', `${field}: only http and https feeds can be fetched, not ${url.protocol}`);
  }
  return url;
}

/** Reads `response`'s body as text, refusing it past `maxBytes` without reading further. */
async function boundedText(response: Response, url: string, maxBytes: number, onProgress: FetchProgress | undefined): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  const total = Number.isFinite(declared) && declared > 0 ? declared : undefined;
  const tooLarge = (bytes: number) =>
    new TidalError('PayloadTooLarge', `${url}: the feed is larger than ${maxBytes} bytes (${bytes}${total ? '' : ' read so far'})`, {
      details: { maxBytes, bytes },
    });
  if (total !== undefined && total > maxBytes) throw tooLarge(total);
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel();
      throw tooLarge(bytes);
    }
    chunks.push(value);
    onProgress?.({ bytes, total });
  }
  const whole = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder('utf-8').decode(whole);
}

/** Fetches `url` under `policy`; see the module comment for how it fails. */
export async function fetchFeedText(url: URL, policy: FetchPolicy, onProgress?: FetchProgress): Promise<{ text: string; url: string }> {
  const target = requestUrl(url, policy);
  const viaProxy = target !== url.href;
  const timeoutMs = policy.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let response: Response;
    try {
      response = await (policy.fetch ?? fetch)(target, { signal: controller.signal, credentials: 'omit', redirect: 'follow' });
    } catch (cause) {
      if (controller.signal.aborted) throw new TidalError('Timeout', `${url.href}: no answer within ${timeoutMs} ms`, { cause });
      const hint =
        url.origin === policy.origin
          ? 'the server is not reachable'
          : viaProxy
            ? 'the CORS proxy is not reachable'
            : 'the server is not reachable or does not allow other sites to read its feed (CORS); set a CORS proxy';
      throw new TidalError('Unreachable', `${url.href}: could not fetch it: ${hint}`, { cause, details: { url: url.href } });
    }
    if (!response.ok) {
      const what =
        response.status === 404 ? 'not found (404)' : `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      throw new TidalError('Unreachable', `${url.href}: ${what}${viaProxy ? ' (through the CORS proxy)' : ''}`, {
        details: { url: url.href, status: response.status },
      });
    }
    const text = await boundedText(response, url.href, policy.maxBytes ?? DEFAULT_MAX_FEED_BYTES, onProgress);
    return { text, url: viaProxy ? url.href : response.url || url.href };
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof TidalError && error.code === 'Timeout')) {
      throw new TidalError('Timeout', `${url.href}: no complete answer within ${timeoutMs} ms`, { cause: error });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
