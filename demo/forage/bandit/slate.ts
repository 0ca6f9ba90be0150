/**
 * Drawing the next slate by Thompson sampling over sources. For each of the
 * slate's positions, top to bottom: draw θ from every source's posterior
 * (among sources that still have candidates), give the position to the
 * source with the highest draw, and take that source's best remaining
 * candidate. A position thus goes to a source with the probability that the
 * source is the best one, given the evidence: sure sources fill most of a
 * slate, uncertain ones get tried. Within a source, candidates come in the
 * order `rankCandidates` gives (fresh and label-matching first).
 *
 *     const slate = drawSlate(
 *       [{ sourceId: 'hn', posterior: { alpha: 3, beta: 9 }, candidates: rankCandidates(items, { now }) }, ...],
 *       { size: 10, random: Math.random },
 *     );
 *     slate[0]; // { sourceId: 'hn', item: {...}, draw: 0.31 }
 */
import { sampleBeta } from './beta.js';
import type { BetaPosterior } from './posterior.js';
import type { Random } from './random.js';

/** A source as the slate drawer sees it: its posterior and its candidates, best first. */
export interface SlateSource<Item extends { readonly id: string }> {
  readonly sourceId: string;
  readonly posterior: BetaPosterior;
  /** Best first. An item listed under several sources is shown once, for the source that draws it first. */
  readonly candidates: readonly Item[];
}

/** One drawn position. */
export interface DrawnEntry<Item> {
  readonly sourceId: string;
  readonly item: Item;
  /** The winning posterior draw θ (for "why this item" in the page). */
  readonly draw: number;
}

/** Options of `drawSlate`. */
export interface DrawSlateOptions {
  /** Positions to fill (fewer when the candidates run out). */
  readonly size: number;
  readonly random: Random;
}

/** Draws up to `size` items, one Thompson draw over the sources per position. */
export function drawSlate<Item extends { readonly id: string }>(
  sources: readonly SlateSource<Item>[],
  options: DrawSlateOptions,
): DrawnEntry<Item>[] {
  if (!Number.isSafeInteger(options.size) || options.size < 0)
    throw new RangeError(`size must be a non-negative integer, not ${options.size}`);
  // Sources in id order, so that the same seed draws the same slate whatever order the caller listed them in.
  const arms = [...sources]
    .sort((a, b) => (a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0))
    .map((source) => ({ source, next: 0 }));
  const taken = new Set<string>();
  const slate: DrawnEntry<Item>[] = [];
  while (slate.length < options.size) {
    let best: { arm: (typeof arms)[number]; draw: number } | undefined;
    for (const arm of arms) {
      const candidates = arm.source.candidates;
      while (arm.next < candidates.length && taken.has(candidates[arm.next]!.id)) arm.next++;
      if (arm.next >= candidates.length) continue;
      const draw = sampleBeta(arm.source.posterior.alpha, arm.source.posterior.beta, options.random);
      if (best === undefined || draw > best.draw) best = { arm, draw };
    }
    if (best === undefined) break;
    const item = best.arm.source.candidates[best.arm.next++]!;
    taken.add(item.id);
    slate.push({ sourceId: best.arm.source.sourceId, item, draw: best.draw });
  }
  return slate;
}

/** An item as `rankCandidates` scores it. */
export interface RankableItem {
  readonly id: string;
  /** Published time (ms since the epoch). */
  readonly publishedAt: number;
  /** The item's best label score in [0, 1] in the context being viewed (0 when no label applies). */
  readonly labelScore?: number;
}

/** Options of `rankCandidates`. */
export interface RankOptions {
  /** The time freshness is measured at (ms). */
  readonly now: number;
  /** Freshness halves every this many ms of age. Default 2 days. */
  readonly freshnessHalfLifeMs?: number;
  /** Weight of the label score against freshness (both in [0, 1]). Default 1. */
  readonly labelWeight?: number;
}

/** Orders one source's items best first by freshness 2^(-age / h) + labelWeight · labelScore (ties: newer, then by id). */
export function rankCandidates<Item extends RankableItem>(items: readonly Item[], options: RankOptions): Item[] {
  const halfLife = options.freshnessHalfLifeMs ?? 2 * 24 * 60 * 60 * 1000;
  const labelWeight = options.labelWeight ?? 1;
  const score = (item: Item) => 2 ** (-Math.max(0, options.now - item.publishedAt) / halfLife) + labelWeight * (item.labelScore ?? 0);
  return items
    .map((item) => ({ item, score: score(item) }))
    .sort(
      (a, b) =>
        b.score - a.score || b.item.publishedAt - a.item.publishedAt || (a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0),
    )
    .map(({ item }) => item);
}
