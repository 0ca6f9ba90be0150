/**
 * The bandit against simulated readers whose sources have known reward
 * rates. Every run is seeded: the seeds are printed, and
 * `FORAGE_BANDIT_SEEDS=7,12 npx vitest run demo/forage/bandit/bandit.simulation.test.ts`
 * replays just those (the assertions on averages then cover only them).
 *
 * Time is the round (one impression), and the bandit runs with the
 * product's change test (threshold 12) and a half-life of H = 1,400 rounds
 * (the product's 7 days at about 200 impressions a day; see posterior.ts).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHANGE_THRESHOLD } from './posterior.js';
import { regretExponent, simulate, trackingDelay, type Policy } from './testing/simulate.js';

const SEEDS = process.env['FORAGE_BANDIT_SEEDS']?.split(',').map(Number) ?? Array.from({ length: 40 }, (_, i) => 1 + i);
const HALF_LIFE = 1400;
const DISCOUNTED: Policy = { kind: 'discounted', halfLife: HALF_LIFE, window: Infinity, changeThreshold: DEFAULT_CHANGE_THRESHOLD };
/** A time-only discount keeping the last ~50 rounds (γ = 0.98 per round): the textbook discounted TS. */
const TIME_ONLY: Policy = { kind: 'discounted', halfLife: Math.LN2 / -Math.log(0.98), window: Infinity, changeThreshold: Infinity };
/** The tracking bound, in rounds: the median change is followed within 60, 90% within 150, every one within 350. */
const TRACKING = { median: 60, p90: 150, max: 350 };

/** The share of rounds `from`..end in which `source` was chosen. */
function share(choices: Int32Array, source: number, from: number): number {
  let chosen = 0;
  for (let t = from; t < choices.length; t++) if (choices[t] === source) chosen++;
  return chosen / (choices.length - from);
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: readonly number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('bandit simulation (stationary: rates 0.15, 0.30, 0.45, 0.60)', () => {
  const rates = [0.15, 0.3, 0.45, 0.6];
  const best = 3;
  const runs = SEEDS.map((seed) => ({
    seed,
    run: simulate({ seed, rounds: 2000, rates: () => rates, policy: DISCOUNTED, checkRounds: [100, 1999] }),
  }));

  it('chooses the best source in at least 80% of the last 500 of 2,000 rounds', () => {
    const shares = runs.map(({ seed, run }) => {
      const s = share(run.choices, best, 1500);
      console.log(`stationary seed ${seed}: best source in ${Math.round(s * 500)} of the last 500 rounds`);
      return s;
    });
    const timeOnly = SEEDS.map((seed) =>
      share(simulate({ seed, rounds: 2000, rates: () => rates, policy: TIME_ONLY }).choices, best, 1500),
    );
    const seedsAbove = shares.filter((s) => s >= 0.8).length;
    console.log(
      `stationary: best source's share of the last 500 rounds, mean ${mean(shares).toFixed(3)}, min ${Math.min(...shares).toFixed(3)}; ` +
        `${seedsAbove} of ${shares.length} seeds at 80% or more; a time-only discount (γ = 0.98): mean ${mean(timeOnly).toFixed(3)}`,
    );
    // On every seed, as the issue states it; and better than a time-only discount on average.
    shares.forEach((s, i) => expect(s, `stationary seed ${SEEDS[i]}`).toBeGreaterThanOrEqual(0.8));
    expect(mean(shares)).toBeGreaterThan(mean(timeOnly));
  });

  it('has sublinear cumulative regret (fitted exponent of the seed-averaged regret well below 1)', () => {
    const averaged = new Float64Array(2000);
    for (const { run } of runs) run.regret.forEach((r, t) => (averaged[t] = averaged[t]! + r / runs.length));
    const exponent = regretExponent(averaged);
    const plain = new Float64Array(2000);
    for (const seed of SEEDS)
      simulate({ seed, rounds: 2000, rates: () => rates, policy: { kind: 'plain' } }).regret.forEach(
        (r, t) => (plain[t] = plain[t]! + r / SEEDS.length),
      );
    console.log(
      `stationary: cumulative regret ~ t^${exponent.toFixed(3)} over rounds 50..2000 (total ${averaged.reduce((a, b) => a + b, 0).toFixed(1)}); ` +
        `plain Thompson sampling ~ t^${regretExponent(plain).toFixed(3)} (total ${plain.reduce((a, b) => a + b, 0).toFixed(1)})`,
    );
    expect(exponent).toBeLessThan(0.8);
    expect(exponent).toBeGreaterThan(0);
  });

  it('the incremental posteriors the simulation keeps are the ones discountedPosteriors computes from all observations', () => {
    for (const { run } of runs) expect(run.maxCheckError).toBeLessThan(1e-9); // relative
  });
});

describe('bandit simulation (the best source changes every 1,000 rounds)', () => {
  // Round 1000: the best source (0) drops to 0.15 and a poor one (3) rises to 0.60.
  // Round 2000: source 3 falls back to 0.30 and source 1, shown little so far, rises to 0.60.
  const phases = [
    [0.6, 0.3, 0.3, 0.15],
    [0.15, 0.3, 0.3, 0.6],
    [0.3, 0.6, 0.15, 0.3],
  ];
  const rates = (round: number) => phases[Math.floor(round / 1000)]!;
  const changes = [
    { round: 1000, best: 3 },
    { round: 2000, best: 1 },
  ];
  const policies: Record<string, Policy> = {
    discounted: DISCOUNTED,
    'time-only': TIME_ONLY,
    plain: { kind: 'plain' },
    uniform: { kind: 'uniform' },
  };
  const results = Object.fromEntries(
    Object.entries(policies).map(([name, policy]) => [
      name,
      SEEDS.map((seed) => ({ seed, run: simulate({ seed, rounds: 3000, rates, policy }) })),
    ]),
  );

  it('follows a change of the best source within a bound: median ≤ 60 rounds, 90% within 150, all within 350', () => {
    const delays: number[] = [];
    for (const { seed, run } of results['discounted']!) {
      const these = changes.map((c) => trackingDelay(run.choices, c.round, c.best, c.round + 1000));
      console.log(`changes seed ${seed}: new best source chosen in half of a 50-round window after ${these.join(' and ')} rounds`);
      delays.push(...these);
    }
    const median = quantile(delays, 0.5);
    const p90 = quantile(delays, 0.9);
    const max = Math.max(...delays);
    console.log(`changes: tracking delay median ${median}, 90th percentile ${p90}, max ${max} rounds (H = ${HALF_LIFE})`);
    expect(median).toBeLessThanOrEqual(TRACKING.median);
    expect(p90).toBeLessThanOrEqual(TRACKING.p90);
    expect(max).toBeLessThanOrEqual(TRACKING.max);
  });

  it('has less regret than time-only discounting, plain Thompson sampling and uniform choice', () => {
    const regret = Object.fromEntries(
      Object.entries(results).map(([name, runs]) => [name, mean(runs.map(({ run }) => run.regret.reduce((a, b) => a + b, 0)))]),
    );
    console.log(
      `changes: mean cumulative regret over 3,000 rounds: ${Object.entries(regret)
        .map(([n, r]) => `${n} ${r.toFixed(1)}`)
        .join(', ')}`,
    );
    expect(regret['discounted']!).toBeLessThan(regret['time-only']!);
    expect(regret['discounted']!).toBeLessThan(regret['plain']!);
    expect(regret['discounted']!).toBeLessThan(regret['uniform']!);
    // Seed by seed, too, against plain TS and uniform choice.
    for (let i = 0; i < SEEDS.length; i++) {
      const total = (name: string) => results[name]![i]!.run.regret.reduce((a, b) => a + b, 0);
      expect(total('discounted'), `seed ${SEEDS[i]}`).toBeLessThan(total('plain'));
      expect(total('discounted'), `seed ${SEEDS[i]}`).toBeLessThan(total('uniform'));
    }
  });
});
