import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CrdtOperation } from '../crdt/operation.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { operationArb } from '../crdt/testing/arbitraries.js';
import { entitiesFromColumns, entityAt, entityColumns } from './entity.js';

const HLC = 1_700_000_000_000n << 16n;

/** A state with `ops` applied, those it refuses (a counter past its room) left out. */
function stateOf(ops: readonly CrdtOperation[]): CrdtSignalState {
  const state = new CrdtSignalState();
  for (const op of ops) {
    try {
      state.apply(op);
    } catch {
      // refused: the state is as it was
    }
  }
  return state;
}

describe('entityAt (what reads return)', () => {
  it("gives every counter, field and set as an own property, '__proto__' too, with the prototype untouched", () => {
    const state = new CrdtSignalState();
    state.apply({ op: 'increment', key: 'k', kind: '__proto__', by: 2, replica: 'r' });
    state.apply({ op: 'increment', key: 'k', kind: 'click', by: 3, replica: 'r' });
    state.apply({ op: 'set', key: 'k', field: '__proto__', value: { polluted: true }, replica: 'r', hlc: HLC });
    state.apply({ op: 'set', key: 'k', field: 'label', value: 'cats', replica: 'r', hlc: HLC + 1n });
    state.apply({ op: 'add', key: 'k', set: '__proto__', member: 7, replica: 'r', hlc: HLC + 2n });
    const entity = entityAt(state, 'k')!;
    for (const part of [entity.counters, entity.fields, entity.sets]) {
      expect(Object.getPrototypeOf(part)).toBe(Object.prototype);
      expect(Object.keys(part)).toContain('__proto__');
    }
    expect(Object.entries(entity.counters)).toEqual([
      ['__proto__', 2],
      ['click', 3],
    ]);
    expect(Object.entries(entity.fields)).toEqual([
      ['__proto__', { polluted: true }],
      ['label', 'cats'],
    ]);
    expect(Object.entries(entity.sets)).toEqual([['__proto__', [7]]]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(entityAt(state, 'nobody')).toBeUndefined();
  });

  it("holds what the state's view of the entity holds, in the same order, for any operations", () => {
    fc.assert(
      fc.property(fc.array(operationArb, { maxLength: 30 }), (ops) => {
        const state = stateOf(ops);
        for (const key of state.keys()) {
          const view = state.entity(key)!;
          const entity = entityAt(state, key)!;
          expect(Object.entries(entity.counters)).toEqual([...view.counters].map(([kind, value]) => [kind, Number(value)]));
          expect(Object.entries(entity.fields)).toEqual([...view.fields]);
          expect(Object.entries(entity.sets)).toEqual([...view.sets]);
        }
      }),
      { seed: 31, numRuns: 300 },
    );
  });

  it('keysWithPrefix gives the keys a filter of keys() gives, in the same order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }), { maxLength: 40 }),
        fc.string({ maxLength: 2 }),
        (keys, prefix) => {
          const state = new CrdtSignalState();
          for (const key of keys) state.apply({ op: 'increment', key, kind: 'n', by: 1, replica: 'r' });
          expect(state.keysWithPrefix(prefix)).toEqual(state.keys().filter((k) => k.startsWith(prefix)));
        },
      ),
    );
  });
});

describe('entityColumns / entitiesFromColumns (how a scan answer crosses from the worker)', () => {
  it('gives back, key by key and in order, what entityAt gives, for any operations', () => {
    fc.assert(
      fc.property(fc.array(operationArb, { maxLength: 40 }), (ops) => {
        const state = stateOf(ops);
        const keys = state.keys();
        // Through a structured clone, as it crosses from the worker.
        const rows = entitiesFromColumns(structuredClone(entityColumns(state, keys)));
        expect(rows.map((row) => row.key)).toEqual(keys);
        rows.forEach(({ key, entity }) => {
          const expected = entityAt(state, key)!;
          for (const part of ['counters', 'fields', 'sets'] as const)
            expect(Object.entries(entity[part])).toEqual(Object.entries(expected[part]));
        });
      }),
      { seed: 37, numRuns: 300 },
    );
  });

  it("keeps '__proto__' names as own properties, with the prototypes untouched, next to entities with none", () => {
    const state = new CrdtSignalState();
    state.apply({ op: 'increment', key: 'a', kind: 'click', by: 1, replica: 'r' });
    state.apply({ op: 'increment', key: 'k', kind: '__proto__', by: 2, replica: 'r' });
    state.apply({ op: 'set', key: 'k', field: '__proto__', value: { polluted: true }, replica: 'r', hlc: HLC });
    state.apply({ op: 'add', key: 'k', set: '__proto__', member: 7, replica: 'r', hlc: HLC + 1n });
    state.apply({ op: 'set', key: 'z', field: 'label', value: 'cats', replica: 'r', hlc: HLC + 2n });
    const rows = entitiesFromColumns(structuredClone(entityColumns(state, ['a', 'k', 'z'])));
    expect(rows.map(({ key, entity }) => [key, entity])).toEqual([
      ['a', { counters: { click: 1 }, fields: {}, sets: {} }],
      ['k', entityAt(state, 'k')],
      ['z', { counters: {}, fields: { label: 'cats' }, sets: {} }],
    ]);
    const k = rows[1]!.entity;
    for (const part of [k.counters, k.fields, k.sets]) {
      expect(Object.getPrototypeOf(part)).toBe(Object.prototype);
      expect(Object.keys(part)).toEqual(['__proto__']);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(entitiesFromColumns(entityColumns(state, []))).toEqual([]);
  });
});
