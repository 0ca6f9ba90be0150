/**
 * Forage's bandit over sources: discounted Thompson sampling on Beta
 * posteriors. A click or like on an item rewards the source it was drawn
 * for; all evidence halves every 7 days, and a source's evidence from
 * before its last change (a likelihood-ratio test) is dropped (see
 * posterior.ts for why), so the posterior is a pure function of the
 * replicated slates and signals.
 *
 *     const observations = observationsFromRecords(slates, signals);
 *     const posteriors = discountedPosteriors(observations, { sources: sourceIds });
 *     const slate = drawSlate(
 *       sourceIds.map((id) => ({ sourceId: id, posterior: posteriors.get(id)!, candidates: rankCandidates(itemsOf(id), { now }) })),
 *       { size: 10, random: Math.random },
 *     );
 *     chart.innerHTML = posteriorChartSvg(sourceIds.map((id) => ({ label: nameOf(id), posterior: posteriors.get(id)! })));
 */
export { betaCdf, betaQuantile, sampleBeta } from './beta.js';
export { posteriorChartSvg } from './chart.js';
export type { ChartOptions, ChartRow } from './chart.js';
export { observationsFromRecords } from './observations.js';
export {
  DEFAULT_CHANGE_THRESHOLD,
  DEFAULT_HALF_LIFE_MS,
  DEFAULT_WINDOW,
  UNIFORM_PRIOR,
  discountedPosteriors,
  sourcePosterior,
  summarizePosterior,
} from './posterior.js';
export type { BetaPosterior, DiscountOptions, Observation, PosteriorSummary } from './posterior.js';
export { seededRandom } from './random.js';
export type { Random } from './random.js';
export { drawSlate, rankCandidates } from './slate.js';
export type { DrawSlateOptions, DrawnEntry, RankOptions, RankableItem, SlateSource } from './slate.js';
