/**
 * A simulated reader for the bandit's tests: sources with known reward
 * rates (which may change on a schedule), one source drawn per round by the
 * production slate drawer, a Bernoulli reward, and the evidence fed back
 * into the posteriors. Time is the round number, so a half-life is in
 * rounds. Regret is the expected one (best rate minus chosen rate), which
 * has no sampling noise of its own.
 *
 *     const run = simulate({ seed: 42, rounds: 2000, rates: () => [0.2, 0.6], policy: { kind: 'discounted', halfLife: 35 } });
 *     run.choices; // the source index chosen in each round
 */
import { discountedPosteriors, type BetaPosterior, type Observation } from '../posterior.js';
import { seededRandom } from '../random.js';
import { drawSlate } from '../slate.js';

/** How the simulated feed chooses. */
export type Policy =
  /** `discountedPosteriors` with this half-life (in rounds) and window; `Infinity` turns either off. */
  | { readonly kind: 'discounted'; readonly halfLife: number; readonly window: number }
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
  const success = new Float64Array(sources);
  const failure = new Float64Array(sources);
  const halfLife = options.policy.kind === 'discounted' ? options.policy.halfLife : Infinity;
  const window = options.policy.kind === 'discounted' ? options.policy.window : Infinity;
  const decay = halfLife === Infinity ? 1 : 2 ** (-1 / halfLife);
  const keep = window === Infinity ? 1 : 1 - 1 / window;
  const checks = new Set(options.checkRounds ?? []);
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
      const [entry] = drawSlate(
        ids.map((sourceId, i) => ({
          sourceId,
          posterior: { alpha: 1 + success[i]!, beta: 1 + failure[i]! },
          candidates: [{ id: `${round}:${i}` }],
        })),
        { size: 1, random },
      );
      chosen = ids.indexOf(entry!.sourceId);
    }
    const reward = random() < rates[chosen]! ? 1 : 0;
    choices[round] = chosen;
    regret[round] = Math.max(...rates) - rates[chosen]!;
    // Evidence ages by one round, the chosen source's by one of its observations too, then the new
    // observation joins at weight 1: the weights `discountedPosteriors` gives, kept incrementally.
    for (let i = 0; i < sources; i++) {
      success[i] = success[i]! * decay;
      failure[i] = failure[i]! * decay;
    }
    success[chosen] = success[chosen]! * keep;
    failure[chosen] = failure[chosen]! * keep;
    if (reward === 1) success[chosen] = success[chosen]! + 1;
    else failure[chosen] = failure[chosen]! + 1;

    if (checks.size > 0) observations.push({ sourceId: ids[chosen]!, reward, at: round });
    if (checks.has(round)) {
      const exact = discountedPosteriors(observations, { halfLife, window, sources: ids });
      ids.forEach((id, i) => {
        const posterior = exact.get(id) as BetaPosterior;
        maxCheckError = Math.max(maxCheckError, Math.abs(posterior.alpha - 1 - success[i]!), Math.abs(posterior.beta - 1 - failure[i]!));
      });
    }
  }
  return { choices, regret, maxCheckError };
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
