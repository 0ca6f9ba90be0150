/**
 * The Beta distribution, as the bandit needs it: samples (for Thompson
 * sampling), the mean, and quantiles (for credible intervals in the chart).
 * Parameters are positive reals, not only integers: discounted evidence
 * gives fractional counts.
 *
 *     const theta = sampleBeta(3.2, 7.5, random); // one posterior draw
 *     const [lower, upper] = [betaQuantile(0.025, 3.2, 7.5), betaQuantile(0.975, 3.2, 7.5)];
 */
import type { Random } from './random.js';

/** One draw from Beta(alpha, beta), as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta). */
export function sampleBeta(alpha: number, beta: number, random: Random): number {
  const x = sampleGamma(alpha, random);
  const y = sampleGamma(beta, random);
  const sum = x + y;
  // Both can underflow to 0 for tiny shapes; the mean is the honest answer then.
  return sum > 0 ? x / sum : alpha / (alpha + beta);
}

/**
 * One draw from Gamma(shape, 1): Marsaglia and Tsang's squeeze method
 * (ACM TOMS 26(3), 2000) for shape ≥ 1, and for shape < 1 the boost
 * Gamma(shape) = Gamma(shape + 1) · U^(1/shape).
 */
export function sampleGamma(shape: number, random: Random): number {
  if (shape < 1) {
    const u = 1 - random(); // (0, 1]: never 0, whose power is 0 for every shape
    return sampleGamma(shape + 1, random) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = sampleNormal(random);
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** One standard normal draw (Box–Muller; the second value is dropped so that a draw uses exactly two uniforms). */
export function sampleNormal(random: Random): number {
  const u1 = 1 - random(); // (0, 1]
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The regularized incomplete beta function I_x(alpha, beta): the CDF of Beta(alpha, beta) at x. */
export function betaCdf(x: number, alpha: number, beta: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(alpha + beta) - logGamma(alpha) - logGamma(beta) + alpha * Math.log(x) + beta * Math.log1p(-x));
  // The continued fraction converges fast for x below the mean; use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) above it.
  if (x < (alpha + 1) / (alpha + beta + 2)) return (front * betaContinuedFraction(x, alpha, beta)) / alpha;
  return 1 - (front * betaContinuedFraction(1 - x, beta, alpha)) / beta;
}

/** The p-quantile of Beta(alpha, beta), by bisection on the CDF (to 1e-13). */
export function betaQuantile(p: number, alpha: number, beta: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let low = 0;
  let high = 1;
  while (high - low > 1e-13) {
    const mid = (low + high) / 2;
    if (betaCdf(mid, alpha, beta) < p) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** Lentz's evaluation of the incomplete beta's continued fraction (Numerical Recipes §6.4). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-14) break;
  }
  return h;
}

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error about 1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = 0.99999999999980993;
  for (let i = 0; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i + 1);
  const t = z + LANCZOS.length - 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
