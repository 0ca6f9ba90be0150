import { describe, expect, it } from 'vitest';
import { posteriorChartSvg } from './chart.js';
import { seededRandom } from './random.js';
import { drawSlate, rankCandidates, type SlateSource } from './slate.js';

const items = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}` }));

describe('drawSlate', () => {
  it('fills the slate without repeating an item, and replays from its seed', () => {
    const shared = { id: 'shared' };
    const sources: SlateSource<{ id: string }>[] = [
      { sourceId: 'a', posterior: { alpha: 5, beta: 5 }, candidates: [shared, ...items('a', 4)] },
      { sourceId: 'b', posterior: { alpha: 5, beta: 5 }, candidates: [shared, ...items('b', 4)] },
    ];
    const slate = drawSlate(sources, { size: 8, random: seededRandom(3) });
    expect(slate).toHaveLength(8);
    expect(new Set(slate.map((e) => e.item.id)).size).toBe(8);
    expect(slate.filter((e) => e.item.id === 'shared')).toHaveLength(1);
    const again = drawSlate([...sources].reverse(), { size: 8, random: seededRandom(3) });
    expect(again).toEqual(slate);
  });

  it('stops when the candidates run out, and takes each source in its own order', () => {
    const slate = drawSlate(
      [
        { sourceId: 'a', posterior: { alpha: 1, beta: 1 }, candidates: items('a', 2) },
        { sourceId: 'b', posterior: { alpha: 1, beta: 1 }, candidates: items('b', 1) },
      ],
      { size: 10, random: seededRandom(1) },
    );
    expect(slate.map((e) => e.item.id).sort()).toEqual(['a0', 'a1', 'b0']);
    const fromA = slate.filter((e) => e.sourceId === 'a').map((e) => e.item.id);
    expect(fromA).toEqual(['a0', 'a1']);
  });

  it('gives most positions to a source that is clearly better', () => {
    const slate = drawSlate(
      [
        { sourceId: 'good', posterior: { alpha: 60, beta: 40 }, candidates: items('g', 200) },
        { sourceId: 'poor', posterior: { alpha: 10, beta: 90 }, candidates: items('p', 200) },
      ],
      { size: 100, random: seededRandom(5) },
    );
    expect(slate.filter((e) => e.sourceId === 'good').length).toBeGreaterThan(95);
  });
});

describe('rankCandidates', () => {
  it('orders by freshness plus label score', () => {
    const day = 86_400_000;
    const now = 10 * day;
    const ranked = rankCandidates(
      [
        { id: 'old', publishedAt: now - 6 * day },
        { id: 'fresh', publishedAt: now - day / 10 },
        { id: 'old-but-labelled', publishedAt: now - 6 * day, labelScore: 0.9 },
      ],
      { now },
    );
    expect(ranked.map((i) => i.id)).toEqual(['old-but-labelled', 'fresh', 'old']);
  });
});

describe('posteriorChartSvg', () => {
  it('draws one row per source with escaped names and the figures in a tooltip', () => {
    const svg = posteriorChartSvg([
      { label: 'Tom & Jerry <script>', posterior: { alpha: 3, beta: 9 } },
      { label: 'b', posterior: { alpha: 1, beta: 1 } },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('Tom &amp; Jerry &lt;script&gt;');
    expect(svg.match(/<g class="posterior">/g)).toHaveLength(2);
    expect(svg).toContain('mean 25.0%');
  });
});
