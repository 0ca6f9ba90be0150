import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signalStateArb } from '../crdt/testing/arbitraries.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { operationsToMerge } from './state-merge.js';

const hex = (s: CrdtSignalState) => Buffer.from(s.encode()).toString('hex');

describe('operationsToMerge', () => {
  it('applied to a state, its operations give exactly the merge with the other state, and change neither state', () => {
    fc.assert(
      fc.property(signalStateArb, signalStateArb, (mine, theirs) => {
        const [mineBefore, theirsBefore] = [hex(mine), hex(theirs)];
        const ops = operationsToMerge(mine, theirs);
        expect([hex(mine), hex(theirs)]).toEqual([mineBefore, theirsBefore]);
        const viaOps = CrdtSignalState.decode(mine.encode());
        for (const op of ops) viaOps.apply(op, { merged: true });
        const merged = CrdtSignalState.decode(mine.encode());
        merged.merge(theirs);
        expect(hex(viaOps)).toBe(hex(merged));
        // Nothing more to merge once merged: the operations of a state with itself, or a merged one, are none.
        expect(operationsToMerge(viaOps, theirs)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
