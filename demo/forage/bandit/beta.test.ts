import { describe, expect, it } from 'vitest';
import { betaCdf, betaQuantile, logGamma, sampleBeta } from './beta.js';
import { seededRandom } from './random.js';

describe('Beta distribution', () => {
  it('CDF matches closed forms', () => {
    for (const x of [0.01, 0.2, 0.5, 0.77, 0.99]) {
      expect(betaCdf(x, 1, 1)).toBeCloseTo(x, 12);
      expect(betaCdf(x, 2, 1)).toBeCloseTo(x * x, 12);
      expect(betaCdf(x, 1, 3)).toBeCloseTo(1 - (1 - x) ** 3, 12);
      // Beta(2, 2): 3x² − 2x³
      expect(betaCdf(x, 2, 2)).toBeCloseTo(3 * x * x - 2 * x ** 3, 12);
    }
    expect(betaCdf(0, 3, 4)).toBe(0);
    expect(betaCdf(1, 3, 4)).toBe(1);
  });

  it('quantile inverts the CDF, also for fractional parameters', () => {
    for (const [a, b] of [
      [1, 1],
      [2.5, 7.25],
      [0.4, 0.6],
      [40.3, 12.1],
      [1.02, 300],
    ] as const) {
      for (const p of [0.025, 0.5, 0.975]) {
        const q = betaQuantile(p, a, b);
        expect(betaCdf(q, a, b)).toBeCloseTo(p, 8);
      }
    }
    expect(betaQuantile(0.5, 2, 1)).toBeCloseTo(Math.SQRT1_2, 9);
  });

  it('logGamma matches factorials', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
  });

  it('samples have the mean and variance of the distribution', () => {
    const random = seededRandom(7);
    for (const [a, b] of [
      [2, 5],
      [0.5, 0.5],
      [30.5, 10.2],
    ] as const) {
      const n = 20_000;
      let sum = 0;
      let squares = 0;
      let outside = 0;
      for (let i = 0; i < n; i++) {
        const x = sampleBeta(a, b, random);
        if (!(x >= 0 && x <= 1)) outside++;
        sum += x;
        squares += x * x;
      }
      expect(outside).toBe(0);
      const mean = sum / n;
      const variance = squares / n - mean * mean;
      const expectedMean = a / (a + b);
      const expectedVariance = (a * b) / ((a + b) ** 2 * (a + b + 1));
      expect(Math.abs(mean - expectedMean)).toBeLessThan(4 * Math.sqrt(expectedVariance / n));
      expect(variance / expectedVariance).toBeGreaterThan(0.95);
      expect(variance / expectedVariance).toBeLessThan(1.05);
    }
  });
});
