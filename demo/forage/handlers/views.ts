/**
 * What the page shows, computed from one read of the state: each item's
 * labels (the label rule over the embedder's vectors), each source's
 * posterior (the discounted Thompson sampling evidence of every slate and
 * signal), the feed (the recorded slates of a context), and the chart.
 * Pure functions of the state, so every tab that has replicated the same
 * entities shows the same thing.
 */
import {
  discountedPosteriors,
  observationsFromRecords,
  posteriorChartSvg,
  summarizePosterior,
  type BetaPosterior,
} from '../bandit/index.js';
import type { SlateContext, SlateRecord } from '../export/index.js';
import { labelRule, labelScorer, scoreLabel } from '../labels/index.js';
import type { ForageState, ItemState } from '../store/index.js';
import type { HandlerContext } from './context.js';
import type { ContextRequest, ForageView, ItemView, LabelRankingView, LabelView, SlateView, SourceView } from './operations.js';

/** Each item's labels, and the best s⁺ among the labels it carries (for ranking). */
export interface LabelAssignment {
  readonly byItem: ReadonlyMap<string, { readonly ids: string[]; readonly names: string[]; readonly best: number }>;
  readonly counts: ReadonlyMap<string, number>;
}

export function assignLabels(ctx: HandlerContext, state: ForageState): LabelAssignment {
  const byItem = new Map<string, { ids: string[]; names: string[]; best: number }>();
  const counts = new Map<string, number>();
  for (const label of state.labels) {
    // In id order: a centroid's floating-point sum depends on the order, and every tab must score alike.
    const vectorsOf = (ids: ReadonlySet<string>) =>
      [...ids].sort().flatMap((id) => {
        const item = state.items.get(id);
        return item ? [ctx.vectors.vector(id, item.item)] : [];
      });
    const examples = { positives: vectorsOf(label.positives), hardNegatives: vectorsOf(label.hardNegatives) };
    const rule = labelRule(label.settings, ctx.embedder.id);
    let count = 0;
    if (examples.positives.length > 0) {
      for (const item of state.items.values()) {
        const score = scoreLabel(ctx.vectors.vector(item.id, item.item), examples, rule);
        if (!score.carries) continue;
        count += 1;
        let entry = byItem.get(item.id);
        if (!entry) byItem.set(item.id, (entry = { ids: [], names: [], best: 0 }));
        entry.ids.push(label.id);
        entry.names.push(label.settings.name);
        entry.best = Math.max(entry.best, Math.min(1, score.positive));
      }
    }
    counts.set(label.id, count);
  }
  return { byItem, counts };
}

/** Sources the user has (not removed), in title order. */
export function activeSources(state: ForageState) {
  return [...state.sources.values()]
    .filter((s) => !s.removed)
    .sort((a, b) => a.spec.title.localeCompare(b.spec.title) || (a.spec.id < b.spec.id ? -1 : 1));
}

/** An item is visible while one of its sources is active. */
export function isVisible(state: ForageState, item: ItemState): boolean {
  return item.sources.some((id) => {
    const source = state.sources.get(id);
    return source !== undefined && !source.removed;
  });
}

export function posteriorsOf(state: ForageState): Map<string, BetaPosterior> {
  return discountedPosteriors(observationsFromRecords(state.slates, state.signals), {
    sources: activeSources(state).map((s) => s.spec.id),
  });
}

export function itemView(state: ForageState, labels: LabelAssignment, item: ItemState, sourceId?: string): ItemView {
  const source = sourceId ?? item.sources.find((id) => state.sources.get(id)?.removed === false) ?? item.sources[0]!;
  const assigned = labels.byItem.get(item.id);
  return {
    id: item.id,
    title: item.item.title,
    url: item.item.url,
    source,
    sourceTitle: state.sources.get(source)?.spec.title ?? source,
    sources: item.sources.map((id) => ({ id, title: state.sources.get(id)?.spec.title ?? id })),
    summary: item.item.summary,
    published: item.item.published,
    labels: assigned?.names ?? [],
    labelIds: assigned?.ids ?? [],
    counters: item.counters,
  };
}

export function slateView(state: ForageState, labels: LabelAssignment, slate: SlateRecord, options: { hideDismissed: boolean }): SlateView {
  const items: ItemView[] = [];
  for (const entry of slate.entries) {
    const item = state.items.get(entry.itemId);
    if (!item || !isVisible(state, item) || (options.hideDismissed && item.counters.dismiss > 0)) continue;
    items.push(itemView(state, labels, item, entry.sourceId));
  }
  return { id: slate.id, at: slate.at, tab: slate.tab, context: slate.context, items };
}

export function sameContext(a: SlateContext, b: ContextRequest): boolean {
  if (a.kind === 'feed' || b.kind === 'feed') return a.kind === b.kind;
  if (a.kind === 'label') return b.kind === 'label' && a.labelId === b.labelId;
  return b.kind === 'source' && a.sourceId === b.sourceId;
}

export function sourceViews(state: ForageState, posteriors: ReadonlyMap<string, BetaPosterior>): SourceView[] {
  const counts = new Map<string, number>();
  for (const item of state.items.values()) for (const id of item.sources) counts.set(id, (counts.get(id) ?? 0) + 1);
  return activeSources(state).map(({ spec, status }) => {
    const posterior = posteriors.get(spec.id) ?? { alpha: 1, beta: 1 };
    return {
      id: spec.id,
      kind: spec.kind,
      title: spec.title,
      url: spec.url,
      category: spec.category,
      posterior: { alpha: posterior.alpha, beta: posterior.beta },
      summary: summarizePosterior(posterior),
      items: counts.get(spec.id) ?? 0,
      status,
    };
  });
}

export function labelViews(ctx: HandlerContext, state: ForageState, labels: LabelAssignment): LabelView[] {
  return state.labels.map((label) => {
    const rule = labelRule(label.settings, ctx.embedder.id);
    return {
      id: label.id,
      name: label.settings.name,
      threshold: rule.threshold,
      margin: rule.margin,
      positives: [...label.positives].sort(),
      hardNegatives: [...label.hardNegatives].sort(),
      items: labels.counts.get(label.id) ?? 0,
    };
  });
}

/** The whole page's view; `slates` bounds the feed (newest first). */
export function forageView(ctx: HandlerContext, state: ForageState, context: ContextRequest, slates: number): ForageView {
  const labels = assignLabels(ctx, state);
  const sources = sourceViews(state, posteriorsOf(state));
  const feed = state.slates
    .filter((slate) => sameContext(slate.context, context))
    .slice(-slates)
    .reverse()
    .map((slate) => slateView(state, labels, slate, { hideDismissed: true }));
  const counts = { items: 0, slates: state.slates.length, click: 0, like: 0, dismiss: 0 };
  for (const item of state.items.values()) if (isVisible(state, item)) counts.items += 1;
  for (const signal of state.signals) counts[signal.kind] += 1;
  return {
    sources,
    labels: labelViews(ctx, state, labels),
    feed,
    counts,
    chart: posteriorChartSvg(
      sources.map((s) => ({ label: s.title, posterior: s.posterior })),
      { width: 340, labelWidth: 130 },
    ),
    corsProxy: state.settings.corsProxy,
    embedder: { kind: state.settings.embedder, id: ctx.embedder.id, error: ctx.embedderError },
    malformed: state.malformed,
  };
}

/**
 * The items that carry `labelId`, best first: by s⁺ (similarity to the label's positives), then by id.
 * A pure function of the replicated state and the embedder, so every tab ranks a label alike.
 */
export function labelRanking(ctx: HandlerContext, state: ForageState, labelId: string): LabelRankingView {
  const label = state.labels.find((l) => l.id === labelId);
  if (!label) throw new TypeError(`no label ${labelId}`);
  const vectorsOf = (ids: ReadonlySet<string>) =>
    [...ids].sort().flatMap((id) => {
      const item = state.items.get(id);
      return item ? [ctx.vectors.vector(id, item.item)] : [];
    });
  const examples = { positives: vectorsOf(label.positives), hardNegatives: vectorsOf(label.hardNegatives) };
  const scorer = labelScorer(examples, labelRule(label.settings, ctx.embedder.id));
  const items: LabelRankingView['items'][number][] = [];
  for (const item of state.items.values()) {
    const score = scorer(ctx.vectors.vector(item.id, item.item));
    if (score.carries) items.push({ id: item.id, title: item.item.title, positive: score.positive, negative: score.negative });
  }
  items.sort((a, b) => b.positive - a.positive || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { labelId, name: label.settings.name, items };
}
