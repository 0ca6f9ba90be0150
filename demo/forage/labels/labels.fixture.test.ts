/**
 * The label rule on a labelled fixture (testing/fixture.ts: 5 labels × 3
 * positives and 9 further members, 15 near-duplicate traps, 24 other
 * items), for each embedder: precision and recall over every (label, item)
 * pair but the label's own positives, both scorings (nearest positive and
 * centroid), a threshold grid, and the defaults chosen from it. Then a hard
 * negative removing a near-duplicate false positive.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WORD_VECTORS_URL, createGloveEmbedder, createHashingEmbedder, parseWordVectors, type Embedder } from '../embeddings/index.js';
import { defaultLabelRule } from './definition.js';
import { labelScorer, type LabelRule } from './rule.js';
import { FIXTURE_ITEMS, FIXTURE_LABELS } from './testing/fixture.js';

const embedders: Record<'hashing' | 'glove', Embedder> = {
  hashing: createHashingEmbedder(),
  glove: createGloveEmbedder(parseWordVectors(new Uint8Array(readFileSync(fileURLToPath(WORD_VECTORS_URL))))),
};

interface Counts {
  tp: number;
  fp: number;
  fn: number;
  falsePositives: string[];
}

const vectorCache = new Map<Embedder, Map<string, Float32Array>>();

/** Micro-averaged counts of the rule over the fixture, with `hardNegatives[label]` marked. */
function evaluate(embedder: Embedder, rule: LabelRule, hardNegatives: Record<string, string[]> = {}): Counts {
  let vectors = vectorCache.get(embedder);
  if (vectors === undefined)
    vectorCache.set(embedder, (vectors = new Map(FIXTURE_ITEMS.map((item) => [item.id, embedder.embed(item.text)]))));
  const counts: Counts = { tp: 0, fp: 0, fn: 0, falsePositives: [] };
  for (const label of FIXTURE_LABELS) {
    const examples = {
      positives: label.positives.map((id) => vectors!.get(id)!),
      hardNegatives: (hardNegatives[label.id] ?? []).map((id) => vectors!.get(id)!),
    };
    const scorer = labelScorer(examples, rule);
    for (const item of FIXTURE_ITEMS) {
      if (label.positives.includes(item.id)) continue;
      const carries = scorer(vectors!.get(item.id)!).carries;
      const truth = item.labels.includes(label.id);
      if (carries && truth) counts.tp++;
      else if (carries) {
        counts.fp++;
        counts.falsePositives.push(`${label.id}:${item.id}`);
      } else if (truth) counts.fn++;
    }
  }
  return counts;
}

const precision = (c: Counts) => (c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp));
const recall = (c: Counts) => c.tp / (c.tp + c.fn);
const f1 = (c: Counts) => (2 * precision(c) * recall(c)) / (precision(c) + recall(c) || 1);

describe.each(['hashing', 'glove'] as const)('label rule with the %s embedder', (kind) => {
  const embedder = embedders[kind];

  it('has the precision and recall the defaults were chosen for', () => {
    for (const scoring of ['max', 'centroid'] as const) {
      let best = { threshold: 0, counts: evaluate(embedder, { threshold: 1, margin: 0.02, scoring }) };
      for (let step = 0; step <= 100; step++) {
        const threshold = step / 100;
        const counts = evaluate(embedder, { threshold, margin: 0.02, scoring });
        if (f1(counts) > f1(best.counts)) best = { threshold, counts };
      }
      console.log(
        `${embedder.id} ${scoring}: best threshold ${best.threshold.toFixed(2)}: precision ${precision(best.counts).toFixed(3)}, ` +
          `recall ${recall(best.counts).toFixed(3)}, F1 ${f1(best.counts).toFixed(3)}`,
      );
    }
    const rule = defaultLabelRule(embedder.id);
    const counts = evaluate(embedder, rule);
    console.log(
      `${embedder.id} default rule ${JSON.stringify(rule)}: precision ${precision(counts).toFixed(3)}, recall ${recall(counts).toFixed(3)}, ` +
        `F1 ${f1(counts).toFixed(3)}; false positives ${counts.falsePositives.join(' ')}`,
    );
    const floors = { hashing: { precision: 0.6, recall: 0.25 }, glove: { precision: 0.7, recall: 0.8 } }[kind];
    expect(precision(counts)).toBeGreaterThanOrEqual(floors.precision);
    expect(recall(counts)).toBeGreaterThanOrEqual(floors.recall);
  });

  it('a hard negative removes a near-duplicate false positive, and its twin, at the cost of at most one true member', () => {
    const rule = defaultLabelRule(embedder.id);
    const before = evaluate(embedder, rule);
    // Per label, the user marks the first near-duplicate trap that wrongly carries it.
    const marks: Record<string, string[]> = {};
    for (const falsePositive of before.falsePositives) {
      const [label, item] = falsePositive.split(':') as [string, string];
      if (item.startsWith(`trap-${label}`) && marks[label] === undefined) marks[label] = [item];
    }
    expect(Object.keys(marks).length, `${embedder.id}: no near-duplicate is a false positive`).toBeGreaterThan(0);
    const after = evaluate(embedder, rule, marks);
    console.log(
      `${embedder.id}: hard negatives ${Object.values(marks).flat().join(', ')}: false positives ${before.fp} -> ${after.fp} ` +
        `(left: ${after.falsePositives.join(' ') || 'none'}), true positives ${before.tp} -> ${after.tp}`,
    );
    for (const [label, [item]] of Object.entries(marks)) {
      expect(after.falsePositives).not.toContain(`${label}:${item}`);
      // Its near-duplicate twin (trap-x and trap-x-2), unmarked, loses the label too.
      const twin = item!.endsWith('-2') ? item!.slice(0, -2) : `${item}-2`;
      expect(after.falsePositives).not.toContain(`${label}:${twin}`);
    }
    expect(after.fp).toBeLessThan(before.fp);
    expect(after.tp).toBeGreaterThanOrEqual(before.tp - 1);
    // Adding hard negatives only takes labels away: nothing carries now that did not before.
    expect(after.falsePositives.every((fp) => before.falsePositives.includes(fp))).toBe(true);
  });
});
