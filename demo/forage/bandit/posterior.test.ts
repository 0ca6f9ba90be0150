import { describe, expect, it } from 'vitest';
import { discountedPosteriors, summarizePosterior, type Observation } from './posterior.js';
import { observationsFromRecords } from './observations.js';
import type { SignalRecord, SlateRecord } from '../export/records.js';
import { seededRandom } from './random.js';

describe('discountedPosteriors', () => {
  it('weighs evidence by 2^(-age / half-life) from the newest observation', () => {
    const observations: Observation[] = [
      { sourceId: 'a', reward: 1, at: 0 }, // one half-life old: weight 1/2
      { sourceId: 'a', reward: 0, at: 100 }, // newest: weight 1
      { sourceId: 'b', reward: 1, at: 50 }, // half a half-life: 2^-0.5
    ];
    const posteriors = discountedPosteriors(observations, { halfLife: 100, window: Infinity });
    expect(posteriors.get('a')).toEqual({ alpha: 1.5, beta: 2 });
    expect(posteriors.get('b')!.alpha).toBeCloseTo(1 + Math.SQRT1_2, 15);
    expect(posteriors.get('b')!.beta).toBe(1);
  });

  it('without discount counts successes and failures; listed sources without evidence get the prior', () => {
    const observations: Observation[] = [
      { sourceId: 'a', reward: 1, at: 0 },
      { sourceId: 'a', reward: 1, at: 1e9 },
      { sourceId: 'a', reward: 0, at: 5 },
    ];
    const posteriors = discountedPosteriors(observations, { halfLife: Infinity, window: Infinity, sources: ['z'] });
    expect(posteriors.get('a')).toEqual({ alpha: 3, beta: 2 });
    expect(posteriors.get('z')).toEqual({ alpha: 1, beta: 1 });
  });

  it("keeps about a source's last W observations: each weighs (1 - 1/W)^(later observations of that source); ties weigh alike", () => {
    const observations: Observation[] = [
      { sourceId: 'a', reward: 1, at: 1 }, // 3 later observations of a: 0.5^3
      { sourceId: 'a', reward: 0, at: 2 }, // 2 later (the two at 3): 0.5^2
      { sourceId: 'a', reward: 1, at: 3 }, // none later: 1
      { sourceId: 'a', reward: 0, at: 3 }, // none later: 1
      { sourceId: 'b', reward: 0, at: 0 }, // b's own count: nothing later, weight 1
    ];
    const posteriors = discountedPosteriors(observations, { halfLife: Infinity, window: 2 });
    expect(posteriors.get('a')).toEqual({ alpha: 1 + 0.125 + 1, beta: 1 + 0.25 + 1 });
    expect(posteriors.get('b')).toEqual({ alpha: 1, beta: 2 });
    // A long run of one source keeps about W = 50 observations' worth of evidence.
    const run: Observation[] = Array.from({ length: 2000 }, (_, i) => ({ sourceId: 'a', reward: 0, at: i }));
    const steady = discountedPosteriors(run, { halfLife: Infinity, window: 50 }).get('a')!;
    expect(steady.beta - 1).toBeCloseTo(50, 6);
  });

  it('drops the evidence from before a change: a good source that turns bad is known for what it is now', () => {
    const random = seededRandom(5);
    // 400 impressions at a 60% reward rate, then 40 at 0% (the newest).
    const history: Observation[] = Array.from({ length: 440 }, (_, i) => ({
      sourceId: 'a',
      reward: i < 400 && random() < 0.6 ? 1 : 0,
      at: i,
    }));
    const cut = discountedPosteriors(history, { halfLife: Infinity }).get('a')!;
    expect(cut.alpha).toBeLessThan(2); // (nearly) only the bad run is left: mean below 0.05
    expect(cut.alpha / (cut.alpha + cut.beta)).toBeLessThan(0.05);
    expect(cut.alpha + cut.beta - 2).toBeGreaterThanOrEqual(35); // the split lands within the grid's 5% steps of the change
    expect(cut.alpha + cut.beta - 2).toBeLessThan(60);
    // Without the change test, the old evidence outweighs it.
    const kept = discountedPosteriors(history, { halfLife: Infinity, changeThreshold: Infinity }).get('a')!;
    expect(kept.alpha + kept.beta - 2).toBe(440);
    expect(kept.alpha / (kept.alpha + kept.beta)).toBeGreaterThan(0.45);
  });

  it('keeps all the evidence of a source that does not change, so its posterior narrows', () => {
    const random = seededRandom(9);
    const history: Observation[] = Array.from({ length: 2000 }, (_, i) => ({ sourceId: 'a', reward: random() < 0.6 ? 1 : 0, at: i }));
    const posterior = discountedPosteriors(history, { halfLife: Infinity }).get('a')!;
    expect(posterior.alpha + posterior.beta - 2).toBe(2000);
  });

  it('never splits the entries of one slate (observations made at the same time)', () => {
    // 30 rewarded impressions, then one slate of 30 unrewarded ones at the same time: the split between them
    // is the only one, and it holds.
    const history: Observation[] = [
      ...Array.from({ length: 30 }, (_, i) => ({ sourceId: 'a', reward: 1 as const, at: i })),
      ...Array.from({ length: 30 }, () => ({ sourceId: 'a', reward: 0 as const, at: 100 })),
    ];
    expect(discountedPosteriors(history, { halfLife: Infinity }).get('a')).toEqual({ alpha: 1, beta: 31 });
    // A single slate of 60 mixed entries is one group: nothing to split.
    const slate: Observation[] = history.map((o) => ({ ...o, at: 7 }));
    expect(discountedPosteriors(slate, { halfLife: Infinity }).get('a')).toEqual({ alpha: 31, beta: 31 });
  });

  it('is the same, bit for bit, whatever order the observations arrive in (every tab agrees)', () => {
    const random = seededRandom(11);
    const observations: Observation[] = Array.from({ length: 500 }, () => ({
      sourceId: `s${Math.floor(random() * 5)}`,
      reward: random() < 0.3 ? 1 : 0,
      at: Math.floor(random() * 1e7),
    }));
    const shuffled = [...observations].sort(() => random() - 0.5);
    const a = discountedPosteriors(observations, { halfLife: 3e6 });
    const b = discountedPosteriors(shuffled, { halfLife: 3e6 });
    expect([...b]).toEqual([...a]);
  });

  it('observations from records: one per slate entry, rewarded by a click or like on that slate', () => {
    const slate: SlateRecord = {
      id: 's1',
      at: 10,
      tab: 't',
      context: { kind: 'feed' },
      entries: [
        { itemId: 'i1', sourceId: 'a', position: 0 },
        { itemId: 'i2', sourceId: 'b', position: 1 },
        { itemId: 'i3', sourceId: 'a', position: 2 },
      ],
    };
    const signals: SignalRecord[] = [
      { id: 'g1', slateId: 's1', itemId: 'i2', kind: 'like', at: 12, tab: 't' },
      { id: 'g2', slateId: 's1', itemId: 'i3', kind: 'dismiss', at: 13, tab: 't' },
      { id: 'g3', slateId: 'other', itemId: 'i1', kind: 'click', at: 14, tab: 't' },
    ];
    expect(observationsFromRecords([slate], signals)).toEqual([
      { sourceId: 'a', reward: 0, at: 10 },
      { sourceId: 'b', reward: 1, at: 10 },
      { sourceId: 'a', reward: 0, at: 10 },
    ]);
  });
});

describe('summarizePosterior', () => {
  it('gives the mean and a central interval holding the stated mass', () => {
    const summary = summarizePosterior({ alpha: 3, beta: 9 }, 0.9);
    expect(summary.mean).toBeCloseTo(0.25, 12);
    expect(summary.lower).toBeLessThan(summary.mean);
    expect(summary.upper).toBeGreaterThan(summary.mean);
    expect(summary.evidence).toBe(10);
    // Uniform: the interval is [0.05, 0.95].
    const uniform = summarizePosterior({ alpha: 1, beta: 1 }, 0.9);
    expect(uniform.lower).toBeCloseTo(0.05, 8);
    expect(uniform.upper).toBeCloseTo(0.95, 8);
  });
});
