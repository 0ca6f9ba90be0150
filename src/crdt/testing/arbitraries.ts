/**
 * Test support (not part of the package): fast-check arbitraries for CRDT
 * values, counters, registers, sets and states, shared by the property tests.
 */
import fc from 'fast-check';
import { GSet } from '../g-set.js';
import { hlcFromParts, type HlcTimestamp } from '../hlc.js';
import { LWWRegister } from '../lww-register.js';
import type { CrdtOperation } from '../operation.js';
import { PNCounter } from '../pn-counter.js';
import { CrdtSignalState } from '../signal-state.js';
import type { CrdtValue } from '../../common/value.js';

/** Small values, so that sets and registers collide often. */
export const smallValueArb: fc.Arbitrary<CrdtValue> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom('a', 'b', 'c'),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom<CrdtValue>({ x: 1 }, [1, 2], new Uint8Array([1])),
  // Equal values in different forms: sets must hold one member for each, registers break ties the same way everywhere.
  fc.constantFrom<CrdtValue>(0, -0, NaN, { x: 1, y: [-0] }, { y: [0], x: 1 }, '\uFEFF'),
);

/** A few replica ids. */
export const replicaArb = fc.constantFrom('r0', 'r1', 'r2', 'r3');

/** Timestamps from a narrow range, so that ties happen. */
export const hlcArb: fc.Arbitrary<HlcTimestamp> = fc
  .tuple(fc.integer({ min: 1_000, max: 1_003 }), fc.integer({ min: 0, max: 3 }))
  .map(([ms, counter]) => hlcFromParts(ms, counter));

/** A PNCounter built from a few steps. */
export const pnCounterArb: fc.Arbitrary<PNCounter> = fc
  .array(fc.tuple(replicaArb, fc.boolean(), fc.integer({ min: 1, max: 1000 })), { maxLength: 8 })
  .map((steps) => {
    const counter = new PNCounter();
    for (const [replica, up, by] of steps) {
      if (up) counter.increment(replica, by);
      else counter.decrement(replica, by);
    }
    return counter;
  });

/** An LWWRegister with a small value and a colliding stamp. */
export const lwwRegisterArb: fc.Arbitrary<LWWRegister> = fc
  .tuple(smallValueArb, hlcArb, replicaArb)
  .map(([value, hlc, replica]) => LWWRegister.of(value, hlc, replica));

/** A GSet of small values. */
export const gSetArb: fc.Arbitrary<GSet> = fc.array(smallValueArb, { maxLength: 6 }).map((members) => {
  const set = new GSet();
  for (const m of members) set.add(m);
  return set;
});

/** An operation on a small key space. */
export const operationArb: fc.Arbitrary<CrdtOperation> = fc.oneof(
  fc.record({
    op: fc.constantFrom<'increment' | 'decrement'>('increment', 'decrement'),
    key: fc.constantFrom('k0', 'k1', 'k2', 'ключ'),
    kind: fc.constantFrom('view', 'click'),
    by: fc.integer({ min: 1, max: 50 }),
    replica: replicaArb,
  }),
  fc.record({
    op: fc.constant<'set'>('set'),
    key: fc.constantFrom('k0', 'k1', 'k2', 'ключ'),
    field: fc.constantFrom('label', 'score'),
    value: smallValueArb,
    hlc: hlcArb,
    replica: replicaArb,
  }),
  fc.record({
    op: fc.constant<'add'>('add'),
    key: fc.constantFrom('k0', 'k1', 'k2', 'ключ'),
    set: fc.constantFrom('neg', 'tags'),
    member: smallValueArb,
    replica: replicaArb,
  }),
);

/**
 * A state built from operations. Counter operations are replayed per
 * replica into a fresh counter, so every state is reachable by real
 * replicas (a replica's totals only grow).
 */
export const signalStateArb: fc.Arbitrary<CrdtSignalState> = fc.array(operationArb, { maxLength: 12 }).map((ops) => {
  const state = new CrdtSignalState();
  for (const op of ops) state.apply(op);
  return state;
});
