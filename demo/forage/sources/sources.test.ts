import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isTidalError } from '../../../src/index.js';
import {
  STARTER_FEEDS,
  canonicalUrl,
  classifyFile,
  feedSource,
  fetchFeedText,
  fileSource,
  opmlDocument,
  parseFeedDocument,
  parseJsonLines,
  parseOpmlDocument,
  plainText,
  requestUrl,
} from './index.js';

const starter = (file: string) => readFileSync(new URL(`../starter/${file}`, import.meta.url), 'utf8');

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (isTidalError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('canonicalUrl', () => {
  it('folds scheme and host case, default ports, fragments, tracking parameters, parameter order and a trailing slash', () => {
    const canonical = 'https://example.com/a/b?a=1&b=2';
    for (const variant of [
      'https://example.com/a/b?a=1&b=2',
      'HTTPS://EXAMPLE.com:443/a/b/?b=2&a=1',
      'https://example.com/a/b?a=1&utm_source=rss&b=2&utm_medium=feed#comments',
      'https://example.com/a/b/?fbclid=xyz&a=1&b=2&gclid=1',
    ]) {
      expect(canonicalUrl(variant)).toBe(canonical);
    }
    expect(canonicalUrl('https://Example.com/')).toBe('https://example.com/');
    // The path's case is the server's business, not ours.
    expect(canonicalUrl('https://example.com/A')).not.toBe(canonicalUrl('https://example.com/a'));
  });

  it('resolves relative links and refuses what is not http(s)', () => {
    expect(canonicalUrl('/post/1', 'https://blog.example/feed.xml')).toBe('https://blog.example/post/1');
    expect(canonicalUrl('javascript:alert(1)')).toBeUndefined();
    expect(canonicalUrl('data:text/html,hi')).toBeUndefined();
    expect(canonicalUrl('not a url')).toBeUndefined();
  });
});

describe('plainText', () => {
  it('strips markup, drops scripts and comments, decodes entities once, collapses whitespace, bounds the length', () => {
    expect(plainText('<p>Caf&eacute; <b>open</b></p><script>alert(1)</script><!-- x -->\n\n <br/>today')).toBe('Café open today');
    expect(plainText('a &amp;lt;b&amp;gt; c')).toBe('a &lt;b&gt; c');
    expect(plainText('5 &lt; 6 &#x26; &#169; &#0; &bogus;')).toBe('5 < 6 & © \uFFFD &bogus;');
    expect(plainText('one two three four five six', 12)).toBe('one two…');
  });
});

describe('parseFeedDocument', () => {
  it('reads RSS 2.0: plain text, canonical links resolved against the feed, dates, guids as links', async () => {
    const rss = `<?xml version="1.0"?><rss version="2.0"><channel><title>Ex &amp; co</title>
      <item><title>First &lt;b&gt;post&lt;/b&gt;</title><link>/p/1/?utm_campaign=x</link>
        <description>&lt;p&gt;Hello &lt;i&gt;world&lt;/i&gt;&lt;/p&gt;</description><pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>
      <item><guid>https://ex.example/p/2</guid><description>No title, only text that is long enough</description></item>
      <item><link>https://ex.example/p/3</link></item>
      <item><title>Bad link</title><link>javascript:alert(1)</link></item>
    </channel></rss>`;
    const batch = await parseFeedDocument(rss, { base: 'https://ex.example/feed.xml' });
    expect(batch.title).toBe('Ex & co');
    expect(batch.items.map((i) => [i.title, i.url, i.summary, i.published])).toEqual([
      ['First post', 'https://ex.example/p/1', 'Hello world', Date.UTC(2003, 5, 10, 4)],
      ['No title, only text that is long enough', 'https://ex.example/p/2', 'No title, only text that is long enough', undefined],
      ['Bad link', '', '', undefined],
    ]);
    expect(batch.skipped).toBe(1); // the item with neither a title nor text
  });

  it('reads Atom and JSON Feed, and bounds the items kept', async () => {
    const atom = await parseFeedDocument(starter('small-kitchen.xml'));
    expect(atom.title).toBe('The Small Kitchen');
    expect(atom.items).toHaveLength(48);
    expect(atom.items[0]!.url).toMatch(/^https:\/\/small-kitchen\.example\/cooking\//);
    expect(atom.items[0]!.summary).not.toContain('<');
    const json = await parseFeedDocument(starter('liner-notes.json'), { maxItems: 10 });
    expect(json.items).toHaveLength(10);
    expect(json.skipped).toBe(38);
    expect(json.items.every((i) => i.published !== undefined && i.title !== '')).toBe(true);
  });

  it('gives the same story the same content hash across sources, whatever its markup and spacing', async () => {
    const a = await parseFeedDocument(
      `<rss version="2.0"><channel><item><title>Heat pumps, explained</title><description>&lt;p&gt;Three units out  for one in.&lt;/p&gt;</description></item></channel></rss>`,
    );
    const b = await parseFeedDocument(
      JSON.stringify({
        version: 'https://jsonfeed.org/version/1.1',
        title: 'J',
        items: [{ id: '1', title: 'Heat Pumps — explained', content_text: 'Three units out for one in' }],
      }),
    );
    expect(a.items[0]!.contentHash).toBe(b.items[0]!.contentHash);
    expect(a.items[0]!.contentHash).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses what is not a feed with MalformedMessage, saying what it looked like', async () => {
    expect(await refusal(parseFeedDocument('<!doctype html><html><body>hi</body></html>'))).toMatchObject({
      code: 'MalformedMessage',
      message: expect.stringContaining('an HTML page'),
    });
    expect((await refusal(parseFeedDocument(''))).code).toBe('MalformedMessage');
    expect((await refusal(parseFeedDocument('{"hello": 1}'))).code).toBe('MalformedMessage');
  });

  it('reads every feed of the starter bundle: 366 items over 8 sources, 336 distinct links', async () => {
    const urls = new Set<string>();
    let items = 0;
    for (const feed of STARTER_FEEDS) {
      const batch = await parseFeedDocument(starter(feed.file));
      expect(batch.title).toBe(feed.title);
      expect(batch.skipped).toBe(0);
      items += batch.items.length;
      for (const item of batch.items) urls.add(item.url);
    }
    expect(items).toBe(366);
    expect(urls.size).toBe(336); // the digest's 30 tracking links are the same stories
  });
});

describe('parseJsonLines', () => {
  it('reads one item a line and names the line of a bad one', async () => {
    const batch = await parseJsonLines(
      '{"title":"A","url":"https://a.example/1","published":1700000000000}\n\n{"summary":"<b>only</b> text","published":"2024-01-01T00:00:00Z"}\n',
    );
    expect(batch.items.map((i) => [i.title, i.url, i.published])).toEqual([
      ['A', 'https://a.example/1', 1700000000000],
      ['only text', '', Date.UTC(2024, 0, 1)],
    ]);
    expect(await refusal(parseJsonLines('{"title":"A"}\n{oops'))).toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('line 2'),
    });
    expect(await refusal(parseJsonLines('{"title":"A"}\n{"url":"x"}'))).toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('line 2'),
    });
    expect((await refusal(parseJsonLines('\n\n'))).code).toBe('InvalidArgument');
  });
});

describe('OPML', () => {
  it('imports nested outlines with their folders, deduplicated, and exports what it imports', () => {
    const { feeds, invalid } = parseOpmlDocument(`<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
      <outline text="Tech"><outline text="A &amp; B" type="rss" xmlUrl="https://a.example/feed/"/>
        <outline text="A again" xmlUrl="HTTPS://A.example/feed"/><outline text="bad" xmlUrl="ftp://x"/></outline>
      <outline text="Top" xmlUrl="https://top.example/rss"/></body></opml>`);
    expect(feeds).toEqual([
      { url: 'https://a.example/feed', title: 'A & B', category: 'Tech' },
      { url: 'https://top.example/rss', title: 'Top', category: '' },
    ]);
    expect(invalid).toBe(1);
    expect(parseOpmlDocument(opmlDocument('Forage', feeds)).feeds).toEqual(feeds);
  });

  it('refuses a malformed file or one without feeds', async () => {
    expect((await refusal(() => parseOpmlDocument('<opml><body><outline'))).code).toBe('MalformedMessage');
    expect((await refusal(() => parseOpmlDocument('<rss version="2.0"><channel/></rss>'))).code).toBe('MalformedMessage');
    expect(await refusal(() => parseOpmlDocument('<opml version="2.0"><body><outline text="empty"/></body></opml>'))).toMatchObject({
      code: 'MalformedMessage',
      message: expect.stringContaining('no feed'),
    });
  });
});

describe('files', () => {
  it('tells OPML, JSON Lines and feeds apart', () => {
    expect(classifyFile('subs.xml', '<?xml version="1.0"?>\n<opml version="2.0">')).toBe('opml');
    expect(classifyFile('x.opml', 'whatever')).toBe('opml');
    expect(classifyFile('items.txt', '{"title":"a"}\n{"title":"b"}')).toBe('json-lines');
    expect(classifyFile('feed.json', '{\n "version": "https://jsonfeed.org/version/1.1"\n}')).toBe('feed');
    expect(classifyFile('feed.xml', '<rss version="2.0">')).toBe('feed');
  });

  it('a file source has an id from its name and loads its items', async () => {
    const a = await fileSource('mine.jsonl', '{"title":"A"}');
    const b = await fileSource('mine.jsonl', '{"title":"B"}');
    expect(a.spec.id).toBe(b.spec.id);
    expect(a.spec).toMatchObject({ kind: 'file', url: 'file:mine.jsonl', title: 'mine.jsonl' });
    expect((await a.load()).items[0]!.title).toBe('A');
    expect((await refusal(fileSource('subs.opml', '<opml/>'))).code).toBe('InvalidArgument');
  });
});

describe('fetching', () => {
  const policy = { origin: 'https://forage.example', corsProxy: 'https://proxy.example/?u={url}' };
  const respond =
    (body: string | Uint8Array<ArrayBuffer>, init: ResponseInit = {}): typeof fetch =>
    async () =>
      new Response(body, init);

  it('fetches same-origin URLs directly and other origins through the proxy', () => {
    expect(requestUrl(new URL('https://forage.example/f.xml'), policy)).toBe('https://forage.example/f.xml');
    expect(requestUrl(new URL('https://other.example/f?a=1'), policy)).toBe(
      'https://proxy.example/?u=https%3A%2F%2Fother.example%2Ff%3Fa%3D1',
    );
    expect(requestUrl(new URL('https://other.example/f'), { ...policy, corsProxy: 'https://p.example/raw/' })).toBe(
      'https://p.example/raw/https%3A%2F%2Fother.example%2Ff',
    );
    expect(requestUrl(new URL('https://other.example/f'), { ...policy, corsProxy: '' })).toBe('https://other.example/f');
  });

  it('says what went wrong: 404, network or CORS, too large', async () => {
    const url = new URL('https://other.example/feed');
    expect(await refusal(fetchFeedText(url, { ...policy, fetch: respond('', { status: 404 }) }))).toMatchObject({
      code: 'Unreachable',
      message: expect.stringContaining('not found (404)'),
    });
    const failing: typeof fetch = async () => {
      throw new TypeError('Failed to fetch');
    };
    expect(await refusal(fetchFeedText(url, { ...policy, corsProxy: '', fetch: failing }))).toMatchObject({
      code: 'Unreachable',
      message: expect.stringContaining('CORS'),
    });
    expect((await refusal(fetchFeedText(url, { ...policy, maxBytes: 10, fetch: respond(new Uint8Array(11)) }))).code).toBe(
      'PayloadTooLarge',
    );
    const fetched = await fetchFeedText(url, { ...policy, maxBytes: 11, fetch: respond('<rss></rss>') });
    expect(fetched.text).toBe('<rss></rss>');
  });

  it('a feed source fetches and parses; the same feed by another spelling is the same source', async () => {
    const body = starter('orbit-notes.xml');
    const a = await feedSource(new URL('https://Orbit.example/feed/?utm_source=x'), { ...policy, fetch: respond(body) });
    const b = await feedSource(new URL('https://orbit.example/feed'), { ...policy, fetch: respond(body) });
    expect(a.spec.id).toBe(b.spec.id);
    expect(a.spec.id).toMatch(/^feed-[0-9a-f]{16}$/);
    expect((await a.load()).items).toHaveLength(48);
  });
});
