/**
 * A simulated reader for the bandit's tests: sources with known reward
 * rates (which may change on a schedule), one source drawn per round by the
 * production slate drawer, a Bernoulli reward, and the evidence fed back
 * into the posteriors. Time is the round number, so a half-life is in
 * rounds. Regret is the expected one (best rate minus chosen rate), which
 * has no sampling noise of its own.
 *
 *     const run = simulate({ seed: 42, rounds: 2000, rates: () => [0.2, 0.6], policy: { kind: 'discounted', halfLife: 1400, window: Infinity, changeThreshold: 12 } });
 *     run.choices; // the source index chosen in each round
 */
import {
  CHANGE_GRID,
  MIN_CHANGE_EVIDENCE,
  bernoulliKl,
  discountedPosteriors,
  type BetaPosterior,
  type DiscountOptions,
  type Observation,
} from '../posterior.js';
import { seededRandom } from '../random.js';
import { drawSlate } from '../slate.js';

/** How the simulated feed chooses. */
export type Policy =
  /** `discountedPosteriors` with this half-life (in rounds), window and change threshold; `Infinity` turns any off. */
  | { readonly kind: 'discounted'; readonly halfLife: number; readonly window: number; readonly changeThreshold: number }
  /** Thompson sampling without discount. */
  | { readonly kind: 'plain' }
  /** Every source equally likely. */
  | { readonly kind: 'uniform' };

export interface SimulationOptions {
  readonly seed: number;
  readonly rounds: number;
  /** Each source's reward rate in round `t`. */
  readonly rates: (round: number) => readonly number[];
  readonly policy: Policy;
  /** Rounds at which to check the incremental posteriors against `discountedPosteriors` over all observations. */
  readonly checkRounds?: readonly number[];
}

export interface SimulationRun {
  /** Source index chosen per round. */
  readonly choices: Int32Array;
  /** Expected regret per round. */
  readonly regret: Float64Array;
  /** Largest difference between the incremental posteriors and `discountedPosteriors` at the check rounds. */
  readonly maxCheckError: number;
}

/** Runs one simulation (see the module comment). */
export function simulate(options: SimulationOptions): SimulationRun {
  const random = seededRandom(options.seed);
  const sources = options.rates(0).length;
  const ids = Array.from({ length: sources }, (_, i) => `s${String(i).padStart(2, '0')}`);
  const discount: DiscountOptions =
    options.policy.kind === 'discounted'
      ? { halfLife: options.policy.halfLife, window: options.policy.window, changeThreshold: options.policy.changeThreshold }
      : { halfLife: Infinity, window: Infinity, changeThreshold: Infinity };
  const checks = new Set(options.checkRounds ?? []);
  const arms = ids.map(() => new ArmHistory(discount));
  const observations: Observation[] = [];
  const choices = new Int32Array(options.rounds);
  const regret = new Float64Array(options.rounds);
  let maxCheckError = 0;

  for (let round = 0; round < options.rounds; round++) {
    const rates = options.rates(round);
    let chosen: number;
    if (options.policy.kind === 'uniform') {
      chosen = Math.floor(random() * sources);
    } else {
      // The reference time is the newest observation's, as in the product.
      const posteriors = arms.map((arm) => arm.posterior(round - 1));
      const [entry] = drawSlate(
        ids.map((sourceId, i) => ({ sourceId, posterior: posteriors[i]!, candidates: [{ id: `${round}:${i}` }] })),
        { size: 1, random },
      );
      chosen = ids.indexOf(entry!.sourceId);
      if (checks.has(round)) {
        const exact = discountedPosteriors(observations, { ...discount, sources: ids, at: round - 1 });
        ids.forEach((id, i) => {
          const posterior = exact.get(id) as BetaPosterior;
          const error = (x: number, y: number) => Math.abs(x - y) / Math.max(1, Math.abs(y));
          maxCheckError = Math.max(maxCheckError, error(posteriors[i]!.alpha, posterior.alpha), error(posteriors[i]!.beta, posterior.beta));
        });
      }
    }
    const reward = random() < rates[chosen]! ? 1 : 0;
    choices[round] = chosen;
    regret[round] = Math.max(...rates) - rates[chosen]!;
    arms[chosen]!.observe(reward, round);
    if (checks.size > 0) observations.push({ sourceId: ids[chosen]!, reward, at: round });
  }
  return { choices, regret, maxCheckError };
}

/**
 * One source's observations (one per round), kept so that its posterior at
 * any round takes O(log n) steps per change test instead of a pass over
 * every observation: the weight of observation i (the source's i-th, made
 * in round tᵢ) is (1 − 1/W)^(n − 1 − i) · 2^(−(T − tᵢ)/H) = c · uᵢ with
 * uᵢ = (1 − 1/W)^(−i) · 2^(tᵢ/H) fixed once made and c common to all, so
 * sums over the newest observations are differences of prefix sums of u,
 * and the change test's ratio scales by c. Same results as
 * `sourcePosterior` (checked at `checkRounds`), up to rounding.
 */
class ArmHistory {
  private readonly keep: number;
  private readonly halfLife: number;
  private readonly threshold: number;
  /** Prefix sums of u and of u·reward, oldest first: `weights[m]` = Σ_{i<m} uᵢ. */
  private readonly weights: number[] = [0];
  private readonly successes: number[] = [0];

  constructor(discount: DiscountOptions) {
    this.keep = discount.window === Infinity ? 1 : 1 - 1 / discount.window!;
    this.halfLife = discount.halfLife!;
    this.threshold = discount.changeThreshold!;
  }

  observe(reward: 0 | 1, round: number): void {
    const n = this.weights.length - 1;
    const u = this.keep ** -n * (this.halfLife === Infinity ? 1 : 2 ** (round / this.halfLife));
    this.weights.push(this.weights[n]! + u);
    this.successes.push(this.successes[n]! + u * reward);
  }

  posterior(reference: number): BetaPosterior {
    const n = this.weights.length - 1;
    if (n === 0) return { alpha: 1, beta: 1 };
    const scale = this.keep ** (n - 1) * (this.halfLife === Infinity ? 1 : 2 ** (-reference / this.halfLife));
    let from = 0;
    for (let cut = this.changePoint(from, scale); cut > from; cut = this.changePoint(from, scale)) from = cut;
    const weight = scale * (this.weights[n]! - this.weights[from]!);
    const success = scale * (this.successes[n]! - this.successes[from]!);
    return { alpha: 1 + success, beta: 1 + weight - success };
  }

  /** `changePoint` of posterior.ts over observations `from`..n: the first one to keep, or `from` when there is no change. */
  private changePoint(from: number, scale: number): number {
    if (this.threshold === Infinity) return from;
    const n = this.weights.length - 1;
    const total = scale * (this.weights[n]! - this.weights[from]!);
    if (total < 2 * MIN_CHANGE_EVIDENCE) return from;
    const success = scale * (this.successes[n]! - this.successes[from]!);
    const rate = success / total;
    let best = from;
    let bestRatio = this.threshold;
    for (let candidate = MIN_CHANGE_EVIDENCE; ;) {
      // The fewest newest observations holding at least `candidate`: the largest m with weight(m..n) ≥ candidate.
      let lo = from;
      let hi = n - 1;
      if (scale * (this.weights[n]! - this.weights[hi]!) >= candidate) lo = hi;
      else
        while (hi - lo > 1) {
          const mid = (lo + hi) >>> 1;
          if (scale * (this.weights[n]! - this.weights[mid]!) >= candidate) lo = mid;
          else hi = mid;
        }
      const m = lo;
      if (m <= from) break;
      const newer = scale * (this.weights[n]! - this.weights[m]!);
      const older = total - newer;
      if (older < MIN_CHANGE_EVIDENCE) break;
      const newerSuccess = scale * (this.successes[n]! - this.successes[m]!);
      const ratio = newer * bernoulliKl(newerSuccess / newer, rate) + older * bernoulliKl((success - newerSuccess) / older, rate);
      if (ratio >= bestRatio) {
        bestRatio = ratio;
        best = m;
      }
      candidate = newer * CHANGE_GRID;
    }
    return best;
  }
}

/** Least-squares slope of log(cumulative regret) against log(round), over rounds `from`..end at geometric steps. */
export function regretExponent(regret: Float64Array, from = 50): number {
  const cumulative = new Float64Array(regret.length);
  let sum = 0;
  regret.forEach((r, i) => (cumulative[i] = sum += r));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let t = from; t <= regret.length; t = Math.ceil(t * 1.1)) {
    xs.push(Math.log(t));
    ys.push(Math.log(Math.max(cumulative[t - 1]!, 1e-9)));
  }
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i]! - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/**
 * Rounds after `change` until the new best source `best` is chosen in at
 * least half of a `window`-round window starting there; `Infinity` if never before `end`.
 */
export function trackingDelay(choices: Int32Array, change: number, best: number, end: number, window = 50): number {
  let inWindow = 0;
  for (let t = change; t < Math.min(change + window, end); t++) if (choices[t] === best) inWindow++;
  for (let start = change; start + window <= end; start++) {
    if (inWindow * 2 >= window) return start - change;
    if (choices[start] === best) inWindow--;
    if (choices[start + window] === best) inWindow++;
  }
  return Infinity;
}
