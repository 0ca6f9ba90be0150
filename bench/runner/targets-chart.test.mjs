import { describe, expect, it } from 'vitest';
import { shareOfTarget, targetsChart } from './targets-chart.mjs';

describe('the targets chart', () => {
  it('measures every target as the share of it reached, 1 being the target', () => {
    expect(shareOfTarget({ value: 0.35, atLeast: 0.7 })).toBeCloseTo(0.5);
    expect(shareOfTarget({ value: 600, atMost: 300 })).toBeCloseTo(0.5);
    expect(shareOfTarget({ value: 150, atMost: 300 })).toBeCloseTo(2);
    expect(shareOfTarget({ value: 0, atMost: 5 })).toBe(10);
    expect(shareOfTarget({ value: null, note: 'units differ', atLeast: 1 })).toBeUndefined();
  });

  it('draws one bar per evaluated target, coloured by whether it is met, dated by its run', () => {
    const svg = targetsChart({
      ratios: [
        { name: 'a / b', metric: 'a', limit: 'b', value: 0.9, atLeast: 0.8, met: true },
        { name: 'open <1M>', metric: 'open', value: 654, atMost: 300, met: false },
        { name: 'skipped', metric: 'c', value: null, atLeast: 1 },
      ],
      measured: { a: { date: '2026-12-02T05:50:00.000Z' }, open: { date: '2026-12-02T05:40:00.000Z' } },
      machine: { cpu: 'cpu', cores: 2, memoryGiB: 24, os: 'Linux' },
      browser: 'Chromium 156',
    });
    expect(svg.match(/class="met"/g)).toHaveLength(1);
    expect(svg.match(/class="miss"/g)).toHaveLength(1);
    expect(svg).toContain('open &lt;1M&gt;');
    expect(svg).toContain('654 (≤ 300) · missed · 12-02 05:40');
    expect(svg).not.toContain('skipped');
    expect(targetsChart({ ratios: [] })).toBeUndefined();
  });
});
