/**
 * Seeded randomness for the bandit. Drawing a slate takes a `Random`
 * (a function returning numbers in [0, 1)) injected by the caller: the page
 * passes `Math.random`, tests and simulations pass `seededRandom(seed)` so
 * that a run replays exactly from its printed seed.
 *
 *     const random = seededRandom(20260101);
 *     const slate = drawSlate(sources, { size: 10, random });
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a small, fast PRNG with a 32-bit state, outputs in [0, 1).
 * The same algorithm as the library's test helper, written here because the
 * demo uses the package's public API only.
 */
export function seededRandom(seed: number): Random {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
