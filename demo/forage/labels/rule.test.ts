import { describe, expect, it } from 'vitest';
import { createHashingEmbedder } from '../embeddings/index.js';
import { parseLabelSettings } from './definition.js';
import { activeHardNegatives, newHardNegativeMark, unmarkTombstones } from './hard-negatives.js';
import { scoreLabel, type LabelRule } from './rule.js';
import { GSet, isTidalError } from '../../../src/index.js';

const embedder = createHashingEmbedder();
const rule: LabelRule = { threshold: 0.3, margin: 0.05, scoring: 'max' };

describe('scoreLabel', () => {
  it('carries the label when s⁺ reaches the threshold, and a hard negative as close as the positive takes it away', () => {
    const positives = [embedder.embed('Rust 1.80 released with new borrow checker improvements')];
    const item = embedder.embed('Rust 1.81 released with borrow checker improvements');
    const before = scoreLabel(item, { positives, hardNegatives: [] }, rule);
    expect(before.carries).toBe(true);
    expect(before.negative).toBe(-1);
    const after = scoreLabel(item, { positives, hardNegatives: [item] }, rule);
    expect(after.positive).toBe(before.positive);
    expect(after.negative).toBeCloseTo(1, 6);
    expect(after.carries).toBe(false);
  });

  it('never carries a label without positives', () => {
    expect(scoreLabel(embedder.embed('anything'), { positives: [], hardNegatives: [] }, { ...rule, threshold: -1 }).carries).toBe(false);
  });
});

describe('hard negatives (marks and tombstones, both grow-only)', () => {
  it('un-marking ends the marks it saw; a later or concurrent mark survives', () => {
    const marks = [newHardNegativeMark('item-1', 'm1'), newHardNegativeMark('item-2', 'm2')];
    const tombstones = unmarkTombstones(marks, [], 'item-1');
    expect(tombstones).toEqual([{ markId: 'm1' }]);
    expect([...activeHardNegatives(marks, tombstones)]).toEqual(['item-2']);
    // Marked again (a new mark id), or concurrently in another tab: in force again.
    const remarked = [...marks, newHardNegativeMark('item-1', 'm3')];
    expect([...activeHardNegatives(remarked, tombstones)].sort()).toEqual(['item-1', 'item-2']);
  });

  it('two replicas marking and un-marking concurrently converge to the same hard negatives after merging both ways', () => {
    const [marksA, marksB, tombsA, tombsB] = [new GSet(), new GSet(), new GSet(), new GSet()];
    marksA.add({ itemId: 'x', markId: 'a1' });
    marksB.merge(marksA); // B has seen A's mark of x
    marksA.add({ itemId: 'y', markId: 'a2' });
    marksB.add({ itemId: 'z', markId: 'b1' });
    for (const t of unmarkTombstones(marksB.values(), tombsB.values(), 'x')) tombsB.add({ ...t }); // B un-marks x
    marksA.add({ itemId: 'x', markId: 'a3' }); // ...while A marks x again
    for (const [to, from] of [
      [marksA, marksB],
      [marksB, marksA],
      [tombsA, tombsB],
      [tombsB, tombsA],
    ] as const)
      to.merge(from);
    const a = activeHardNegatives(marksA.values(), tombsA.values());
    const b = activeHardNegatives(marksB.values(), tombsB.values());
    expect([...a].sort()).toEqual(['x', 'y', 'z']); // x: A's new mark was not seen by B's un-mark
    expect([...b].sort()).toEqual([...a].sort());
    expect(marksA.size).toBe(4);
  });

  it('skips members that are not marks', () => {
    expect([...activeHardNegatives([{ itemId: 'a', markId: 'x' }, 'junk', null, { itemId: 3 }], [{ markId: 7 }])]).toEqual(['a']);
  });
});

describe('parseLabelSettings', () => {
  it('trims the name and refuses an empty one, naming the field', () => {
    expect(parseLabelSettings({ name: '  Rust ' })).toEqual({ name: 'Rust' });
    for (const bad of [{ name: '   ' }, { name: 3 }, null, { name: 'x', threshold: 2 }, { name: 'x', margin: -0.1 }]) {
      let error: unknown;
      try {
        parseLabelSettings(bad);
      } catch (e) {
        error = e;
      }
      expect(isTidalError(error, 'InvalidArgument')).toBe(true);
      expect((error as Error).message).toMatch(/^InvalidArgument: label/);
    }
  });
});
