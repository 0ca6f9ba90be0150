/**
 * The label rule. A label has positive examples and hard negatives (items
 * the user said do not belong, typically near-duplicates of a positive that
 * fooled the embedder). For an item with vector v:
 *
 *   s⁺ = max over positives p of cos(v, p)   (scoring 'max'; or cos(v, centroid of the positives) for 'centroid')
 *   s⁻ = max over hard negatives n of cos(v, n)   (−1 when there are none)
 *
 * and the item carries the label when s⁺ ≥ threshold and s⁻ < s⁺ − margin.
 * Adding a hard negative can only raise s⁻, so it can only take the label
 * away from items, never give it: the property that makes a grow-only set
 * of hard negatives safe to merge from every tab.
 *
 *     const score = scoreLabel(embedder.embed(item.text), { positives, hardNegatives }, rule);
 *     if (score.carries) show(label.name, score.positive);
 *
 *     const scorer = labelScorer({ positives, hardNegatives }, rule); // the centroid computed once, for many items
 *     for (const item of items) if (scorer(vectorOf(item)).carries) ...
 */
import { cosineSimilarity } from '../embeddings/index.js';

/** How a label decides. */
export interface LabelRule {
  /** Lowest s⁺ that carries the label. */
  readonly threshold: number;
  /** The label holds only while s⁻ < s⁺ − margin. */
  readonly margin: number;
  /** s⁺ from the nearest positive ('max') or from the positives' centroid ('centroid'). */
  readonly scoring: 'max' | 'centroid';
}

/** A label's examples, embedded by one embedder. */
export interface LabelExamples {
  readonly positives: readonly Float32Array[];
  readonly hardNegatives: readonly Float32Array[];
}

/** What the rule says about one item. */
export interface LabelScore {
  /** s⁺; −1 when the label has no positives. */
  readonly positive: number;
  /** s⁻; −1 when the label has no hard negatives. */
  readonly negative: number;
  readonly carries: boolean;
}

/** Scores one item's vector against a label's examples under `rule`. */
export function scoreLabel(vector: Float32Array, examples: LabelExamples, rule: LabelRule): LabelScore {
  return labelScorer(examples, rule)(vector);
}

/** A scorer for many items against one label: the centroid (for 'centroid') is computed once. */
export function labelScorer(examples: LabelExamples, rule: LabelRule): (vector: Float32Array) => LabelScore {
  const hasPositives = examples.positives.length > 0;
  const references = rule.scoring === 'centroid' && hasPositives ? [centroid(examples.positives)] : examples.positives;
  return (vector) => {
    const positive = hasPositives ? nearest(vector, references) : -1;
    const negative = nearest(vector, examples.hardNegatives);
    return { positive, negative, carries: hasPositives && positive >= rule.threshold && negative < positive - rule.margin };
  };
}

/** The mean of unit vectors (not renormalised: the cosine does that). */
export function centroid(vectors: readonly Float32Array[]): Float32Array {
  const sum = new Float32Array(vectors[0]?.length ?? 0);
  for (const v of vectors) {
    if (v.length !== sum.length) throw new RangeError(`vectors of different lengths (${sum.length} and ${v.length})`);
    for (let i = 0; i < v.length; i++) sum[i] = sum[i]! + v[i]! / vectors.length;
  }
  return sum;
}

function nearest(vector: Float32Array, examples: readonly Float32Array[]): number {
  let best = -1;
  for (const example of examples) best = Math.max(best, cosineSimilarity(vector, example));
  return best;
}
