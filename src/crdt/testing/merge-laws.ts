/**
 * Test support (not part of the package): the laws every mergeable type
 * keeps, checked on canonical bytes, for the property tests of each CRDT
 * and of the state made of them.
 *
 *     fc.assert(fc.property(arb, arb, arb, (a, b, c) => expectMergeLaws(a, b, c)));
 */
import { expect } from 'vitest';

/** What the laws need of a type: a copy, a merge that says whether it changed anything, canonical bytes. */
export interface Mergeable<T> {
  clone(): T;
  merge(other: T): boolean;
  encode(): Uint8Array;
}

/** `a` merged with `b`, as a new value (neither is changed). */
export function merged<T extends Mergeable<T>>(a: T, b: T): T {
  const out = a.clone();
  out.merge(b);
  return out;
}

/** Merge is commutative, associative and idempotent (on canonical bytes), and leaves its argument alone. */
export function expectMergeLaws<T extends Mergeable<T>>(a: T, b: T, c: T): void {
  const bBefore = b.encode();
  expect(merged(a, b).encode()).toEqual(merged(b, a).encode());
  expect(b.encode()).toEqual(bBefore);
  expect(merged(merged(a, b), c).encode()).toEqual(merged(a, merged(b, c)).encode());
  const again = a.clone();
  expect(again.merge(a)).toBe(false);
  expect(again.encode()).toEqual(a.encode());
}
