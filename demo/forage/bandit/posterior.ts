/**
 * Each source's Beta posterior over "an impression of this source is
 * rewarded", from discounted evidence.
 *
 * The discount: an observation made at time t weighs 2^(-(T - t) / h) at the
 * reference time T, with half-life h, and the posterior is
 * Beta(α₀ + Σ w·reward, β₀ + Σ w·(1 - reward)). Why this discount:
 *
 * - A user's taste and a source's quality drift, so evidence must fade, or
 *   a source that was good last month is shown forever and one that became
 *   good is never found (plain Thompson sampling's failure, measured in
 *   bandit.simulation.test.ts). Discounted Thompson sampling (Raj & Kalyani
 *   2017) fades it geometrically; the effective memory of a source seen r
 *   times per unit time is r·h / ln 2 observations.
 * - Fading by time rather than by each source's own count lets a source that
 *   is not shown lose its certainty too, so it is explored again.
 * - It is a pure function of replicated data: T defaults to the newest
 *   observation's time, not to the clock of the tab computing it, and the
 *   sum runs in a canonical order, so every tab that holds the same slates
 *   and signals computes the same posteriors, bit for bit.
 *
 * The default half-life, 36 hours, keeps about 50 observations of a source
 * that a daily reader sees about 23 times a day (a few 10-item slates a day
 * over a dozen sources): the memory that did well in simulation.
 *
 *     const posteriors = discountedPosteriors(observations, { halfLifeMs: DEFAULT_HALF_LIFE_MS });
 *     posteriors.get('source:hn'); // { alpha: 4.7, beta: 31.2 }
 */
import { betaQuantile } from './beta.js';

/** One impression of a source: rewarded (1) when the item was clicked or liked, else 0. */
export interface Observation {
  readonly sourceId: string;
  readonly reward: 0 | 1;
  /** When it was made (ms, or any time unit shared with `halfLife`). */
  readonly at: number;
}

/** A Beta(alpha, beta) posterior. */
export interface BetaPosterior {
  readonly alpha: number;
  readonly beta: number;
}

/** 36 hours: see the module comment. */
export const DEFAULT_HALF_LIFE_MS = 36 * 60 * 60 * 1000;

/** The uniform prior, Beta(1, 1): one pseudo-success and one pseudo-failure. */
export const UNIFORM_PRIOR: BetaPosterior = { alpha: 1, beta: 1 };

/** Options of `discountedPosteriors`. */
export interface DiscountOptions {
  /** Half-life of evidence, in the unit of `Observation.at`. Default `DEFAULT_HALF_LIFE_MS`; `Infinity` for no discount. */
  readonly halfLife?: number;
  /** The reference time T. Default: the newest observation's `at` (so every tab agrees). Observations after it weigh 1. */
  readonly at?: number;
  /** Default `UNIFORM_PRIOR`. */
  readonly prior?: BetaPosterior;
  /** Sources to include even without observations (they get the prior). */
  readonly sources?: Iterable<string>;
}

/** The discounted posterior of every source that has observations (or is listed in `sources`). */
export function discountedPosteriors(observations: readonly Observation[], options: DiscountOptions = {}): Map<string, BetaPosterior> {
  const halfLife = options.halfLife ?? DEFAULT_HALF_LIFE_MS;
  if (!(halfLife > 0)) throw new RangeError(`halfLife must be positive, not ${halfLife}`);
  const prior = options.prior ?? UNIFORM_PRIOR;
  let reference = options.at ?? -Infinity;
  if (options.at === undefined) for (const o of observations) if (o.at > reference) reference = o.at;

  // Floating-point sums depend on order: sum in one canonical order so that every tab gets the same bits.
  const ordered = [...observations].sort(compareObservations);
  const sums = new Map<string, { success: number; failure: number }>();
  for (const source of options.sources ?? []) sums.set(source, { success: 0, failure: 0 });
  for (const o of ordered) {
    let sum = sums.get(o.sourceId);
    if (sum === undefined) sums.set(o.sourceId, (sum = { success: 0, failure: 0 }));
    const weight = halfLife === Infinity || o.at >= reference ? 1 : 2 ** (-(reference - o.at) / halfLife);
    if (o.reward === 1) sum.success += weight;
    else sum.failure += weight;
  }
  const posteriors = new Map<string, BetaPosterior>();
  for (const [source, sum] of [...sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    posteriors.set(source, { alpha: prior.alpha + sum.success, beta: prior.beta + sum.failure });
  }
  return posteriors;
}

/** A posterior as the chart shows it: its mean and a central credible interval. */
export interface PosteriorSummary {
  readonly mean: number;
  readonly lower: number;
  readonly upper: number;
  /** The interval's probability mass, e.g. 0.95. */
  readonly level: number;
  /** alpha + beta - prior: how much (discounted) evidence there is. */
  readonly evidence: number;
}

/** Mean and central `level` credible interval (default 0.95) of a Beta posterior. */
export function summarizePosterior(posterior: BetaPosterior, level = 0.95, prior: BetaPosterior = UNIFORM_PRIOR): PosteriorSummary {
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1), not ${level}`);
  const { alpha, beta } = posterior;
  const tail = (1 - level) / 2;
  return {
    mean: alpha / (alpha + beta),
    lower: betaQuantile(tail, alpha, beta),
    upper: betaQuantile(1 - tail, alpha, beta),
    level,
    evidence: alpha + beta - prior.alpha - prior.beta,
  };
}

function compareObservations(a: Observation, b: Observation): number {
  if (a.at !== b.at) return a.at - b.at;
  if (a.sourceId !== b.sourceId) return a.sourceId < b.sourceId ? -1 : 1;
  return a.reward - b.reward;
}
