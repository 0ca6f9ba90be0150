import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { isTidalError } from '../../../src/index.js';
import { seededRandom } from '../bandit/index.js';
import { WORD_VECTORS_URL, createGloveEmbedder, createHashingEmbedder, parseWordVectors } from '../embeddings/index.js';
import { MemoryForageDb } from '../store/testing/memory-db.js';
import { VectorCache, route, type ForageRequest, type ForageResponse, type HandlerContext, type OperationName } from './index.js';

const ORIGIN = 'https://forage.example';
const STARTER = `${ORIGIN}/demo/forage/starter/`;
const starterFile = (name: string) => readFileSync(new URL(`../starter/${name}`, import.meta.url), 'utf8');

/** Serves the starter bundle and a few fixtures; everything else is a 404. */
const serve: typeof fetch = async (input) => {
  const url = String(input);
  if (url.startsWith(STARTER)) return new Response(starterFile(url.slice(STARTER.length)));
  if (url === `${ORIGIN}/feed.xml`)
    return new Response(
      `<rss version="2.0"><channel><title>Mine</title>
        <item><title>A weekend with heat pumps</title><link>https://GRID-and-weather.example/energy/heat-pumps/a-weekend-with/?utm_source=mine</link></item>
        <item><title>Something new</title><link>https://mine.example/new</link><description>Only here.</description></item>
      </channel></rss>`,
    );
  if (url === `${ORIGIN}/page.html`) return new Response('<!doctype html><html><body>hello</body></html>');
  return new Response('', { status: 404 });
};

let db: MemoryForageDb;
let ctx: HandlerContext;
let clock: number;

beforeEach(() => {
  db = new MemoryForageDb();
  clock = Date.UTC(2026, 11, 1, 9);
  let ids = 0;
  const embedder = createHashingEmbedder();
  ctx = {
    db,
    tab: 'tab-a',
    origin: ORIGIN,
    starterBase: STARTER,
    now: () => (clock += 1000),
    random: seededRandom(42),
    newId: () => `id-${++ids}`,
    embedder,
    vectors: new VectorCache(embedder),
    embedderError: '',
    loadEmbedding: async (kind) => {
      if (kind !== 'glove') return { kind, embedder, vectors: new VectorCache(embedder) };
      const glove = createGloveEmbedder(parseWordVectors(readFileSync(WORD_VECTORS_URL)));
      return { kind, embedder: glove, vectors: new VectorCache(glove) };
    },
    fetch: serve,
    progress: () => {},
  };
});

const call = <K extends OperationName>(request: ForageRequest<K>): Promise<ForageResponse<K>> => route(ctx, request);

/** The TidalError a request is refused with, and whether it wrote anything. */
async function refusal(request: ForageRequest): Promise<{ code: string; message: string; wrote: number }> {
  const before = db.writes.length;
  try {
    await route(ctx, request);
  } catch (error) {
    if (!isTidalError(error)) throw error;
    return { code: error.code, message: error.message.replace(/^[A-Za-z]+: /, ''), wrote: db.writes.length - before };
  }
  throw new Error(`${request.op} was accepted`);
}

describe('sources', () => {
  it('the starter bundle: 336 stories from 8 sources, the digest merged into the stories it re-posts; refreshing writes no item', async () => {
    const results = await call({ op: 'addStarter', onlyIfEmpty: true });
    expect(results.map((r) => [r.title, r.added, r.merged])).toEqual([
      ['Orbit Notes', 48, 0],
      ['The Small Kitchen', 48, 0],
      ['The Gradient Cyclist', 48, 0],
      ['Web Platform Weekly', 48, 0],
      ['Grid & Weather', 48, 0],
      ['Allotment Diary', 48, 0],
      ['Liner Notes', 48, 0],
      ['Morning Digest', 0, 30],
    ]);
    const view = await call({ op: 'view' });
    expect(view.counts.items).toBe(336);
    expect(view.sources.find((s) => s.title === 'Morning Digest')!.items).toBe(30);

    // A first start in a second tab, and refreshing every source: no item is written again.
    expect(await call({ op: 'addStarter', onlyIfEmpty: true })).toEqual([]);
    const before = db.writes.length;
    for (const source of view.sources) {
      const result = await call({ op: 'refreshSource', sourceId: source.id });
      expect(result.added).toBe(0);
    }
    expect(db.writes.slice(before).filter((w) => w.startsWith('forage:item:'))).toEqual([]);
    expect((await call({ op: 'view' })).counts.items).toBe(336);
  });

  it('a feed by URL: a story another source has is one item with both sources', async () => {
    await call({ op: 'addStarter' });
    const result = await call({ op: 'addSource', url: `${ORIGIN}/feed.xml` });
    expect(result).toMatchObject({ title: 'Mine', items: 2, added: 1, merged: 1 });
    const slate = await call({ op: 'nextSlate', context: { kind: 'source', sourceId: result.sourceId }, size: 5 });
    expect(slate.items.map((i) => [i.title, i.sources.map((s) => s.title).sort()])).toEqual(
      expect.arrayContaining([
        ['A weekend with heat pumps', ['Grid & Weather', 'Mine']],
        ['Something new', ['Mine']],
      ]),
    );
  });

  it('what cannot be fetched, is not a feed or is not OPML is refused, naming the problem, and nothing is written', async () => {
    expect(await refusal({ op: 'addSource', url: 'ftp://x.example/feed' })).toEqual({
      code: 'InvalidArgument',
      message: 'url: only http and https feeds can be fetched, not ftp:',
      wrote: 0,
    });
    expect(await refusal({ op: 'addSource', url: `${ORIGIN}/missing.xml` })).toMatchObject({
      code: 'Unreachable',
      message: expect.stringContaining('not found (404)'),
      wrote: 0,
    });
    expect(await refusal({ op: 'addSource', url: `${ORIGIN}/page.html` })).toMatchObject({
      code: 'MalformedMessage',
      message: 'not a feed: the document is an HTML page',
      wrote: 0,
    });
    expect(await refusal({ op: 'importOpml', text: '<opml><body><outline' })).toMatchObject({ code: 'MalformedMessage', wrote: 0 });
    expect(await refusal({ op: 'addFile', name: 'items.jsonl', text: '{"title":"a"}\n{nope' })).toMatchObject({
      code: 'InvalidArgument',
      message: 'line 2: not JSON',
      wrote: 0,
    });
    expect(await refusal({ op: 'setCorsProxy', corsProxy: 'javascript:alert(1)' })).toMatchObject({ code: 'InvalidArgument', wrote: 0 });
    expect(await refusal({ op: 'refreshSource', sourceId: 'feed-nope' })).toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('sourceId'),
      wrote: 0,
    });
    expect(await refusal({ op: 'nope' } as never)).toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/^op must name an operation/),
      wrote: 0,
    });
    expect(db.writes).toEqual([]);
  });

  it('an OPML import adds the feeds it can fetch and reports the others; the export lists the sources', async () => {
    const opml = `<opml version="2.0"><body><outline text="Mine" xmlUrl="${ORIGIN}/feed.xml"/><outline text="Gone" xmlUrl="${ORIGIN}/gone.xml"/></body></opml>`;
    const result = await call({ op: 'importOpml', text: opml });
    expect(result.results.map((r) => [r.url, r.ok])).toEqual([
      [`${ORIGIN}/feed.xml`, true],
      [`${ORIGIN}/gone.xml`, false],
    ]);
    expect((await call({ op: 'sources' })).map((s) => s.title)).toEqual(['Mine']);
    expect(await call({ op: 'exportOpml' })).toContain(`xmlUrl="${ORIGIN}/feed.xml"`);
  });
});

describe('slates, signals, labels, exports', () => {
  beforeEach(async () => {
    await call({ op: 'addStarter' });
  });

  it('a slate is drawn and recorded; a like rewards the source it was drawn for; bad signals write nothing', async () => {
    const slate = await call({ op: 'nextSlate' });
    expect(slate.items).toHaveLength(10);
    expect(new Set(slate.items.map((i) => i.id)).size).toBe(10);
    const liked = slate.items[3]!;
    const before = (await call({ op: 'sources' })).find((s) => s.id === liked.source)!.posterior;

    expect(await refusal({ op: 'signal', itemId: liked.id, kind: 'love' as 'like', slateId: slate.id })).toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/^kind /),
      wrote: 0,
    });
    expect(await refusal({ op: 'signal', itemId: liked.id, kind: 'like', slateId: 'nope' })).toMatchObject({
      message: expect.stringMatching(/^slateId /),
      wrote: 0,
    });
    const notShown = (await call({ op: 'nextSlate' })).items[0]!.id;
    expect(await refusal({ op: 'signal', itemId: notShown, kind: 'like', slateId: slate.id })).toMatchObject({
      message: expect.stringMatching(/^itemId was not shown/),
      wrote: 0,
    });

    await call({ op: 'signal', itemId: liked.id, kind: 'like', slateId: slate.id });
    const after = (await call({ op: 'sources' })).find((s) => s.id === liked.source)!.posterior;
    expect(after.alpha).toBeGreaterThan(before.alpha);
    const view = await call({ op: 'view', slates: 2 });
    expect(view.counts).toMatchObject({ like: 1, slates: 2 });
    expect(view.feed[1]!.items.find((i) => i.id === liked.id)!.counters.like).toBe(1);
  });

  it('a label: empty name refused, positives label similar items, a dismiss in its view is a hard negative, un-marking undoes it', async () => {
    expect(await refusal({ op: 'createLabel', name: '  ' })).toEqual({
      code: 'InvalidArgument',
      message: 'label.name must not be empty',
      wrote: 0,
    });
    const label = await call({ op: 'createLabel', name: 'Space' });
    expect(await refusal({ op: 'createLabel', name: 'space' })).toMatchObject({
      message: 'name "space" is taken by another label',
      wrote: 0,
    });
    const space = (await call({ op: 'nextSlate', context: { kind: 'feed' }, size: 50 })).items.filter(
      (i) => i.sourceTitle === 'Orbit Notes',
    );
    for (const item of space.slice(0, 3)) await call({ op: 'addPositive', labelId: label.id, itemId: item.id });
    const labelled = await call({ op: 'labels' });
    expect(labelled[0]!.items).toBeGreaterThan(3);

    const inLabel = await call({ op: 'nextSlate', context: { kind: 'label', labelId: label.id } });
    expect(inLabel.context).toEqual({ kind: 'label', labelId: label.id, labelName: 'Space' });
    expect(inLabel.items.every((i) => i.labelIds.includes(label.id))).toBe(true);
    const dismissed = inLabel.items[0]!;
    const signal = await call({ op: 'signal', itemId: dismissed.id, kind: 'dismiss', slateId: inLabel.id });
    expect(signal.hardNegativeOf).toBe(label.id);
    const marked = (await call({ op: 'labels' }))[0]!;
    expect(marked.hardNegatives).toEqual([dismissed.id]);
    expect(marked.items).toBeLessThan(labelled[0]!.items); // a hard negative only takes the label away

    const unmarked = await call({ op: 'unmarkHardNegative', labelId: label.id, itemId: dismissed.id });
    expect(unmarked.hardNegatives).toEqual([]);
    expect(await refusal({ op: 'unmarkHardNegative', labelId: label.id, itemId: dismissed.id })).toMatchObject({
      code: 'InvalidArgument',
      wrote: 0,
    });
  });

  it("the embedder labels use is a setting: checked, loaded before it is stored, GloVe from the demo's own table", async () => {
    expect(await refusal({ op: 'setEmbedder', embedder: 'bert' as 'glove' })).toEqual({
      code: 'InvalidArgument',
      message: 'embedder must be one of hashing, glove, not "bert"',
      wrote: 0,
    });
    expect((await call({ op: 'view' })).embedder).toMatchObject({ kind: 'hashing', id: expect.stringMatching(/^hashing-/), error: '' });
    const set = await call({ op: 'setEmbedder', embedder: 'glove' });
    expect(set.id).toMatch(/^glove-/);
    expect((await call({ op: 'view' })).embedder.kind).toBe('glove');

    // Labels scored with GloVe (as the worker does once the setting names it).
    const glove = await ctx.loadEmbedding('glove');
    ctx = { ...ctx, embedder: glove.embedder, vectors: glove.vectors };
    const label = await call({ op: 'createLabel', name: 'Space' });
    const space = (await call({ op: 'nextSlate', size: 50 })).items.filter((i) => i.sourceTitle === 'Orbit Notes');
    for (const item of space.slice(0, 3)) await call({ op: 'addPositive', labelId: label.id, itemId: item.id });
    const [view] = await call({ op: 'labels' });
    expect(view!.items).toBeGreaterThan(3);
  });

  it('the signals export is, line for line, what was done', async () => {
    const slate = await call({ op: 'nextSlate' });
    const done: [string, string][] = [
      [slate.items[0]!.id, 'like'],
      [slate.items[2]!.id, 'dismiss'],
      [slate.items[4]!.id, 'click'],
    ];
    for (const [itemId, kind] of done) await call({ op: 'signal', itemId, kind: kind as 'like', slateId: slate.id });
    const rows = (await call({ op: 'exportSignals' }))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r['item_id'], r['kind']])).toEqual(done);
    expect(rows.map((r) => r['position'])).toEqual([0, 2, 4]);
    const pairs = (await call({ op: 'exportPreferences' }))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(pairs).toContainEqual(expect.objectContaining({ rule: 'like>dismiss', chosen_id: done[0]![0], rejected_id: done[1]![0] }));
  });
});
