/**
 * Seeded randomness for tests, soak runs and benchmarks, so that a failing
 * run replays from its seed. Product code takes randomness injected
 * (`random` options); this is what tests inject.
 */

/** mulberry32: a small, fast, seeded PRNG with outputs in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
