import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { operationArb, signalStateArb } from './testing/arbitraries.js';
import { expectMergeLaws, merged } from './testing/merge-laws.js';
import { HLC, hlcFromParts } from './hlc.js';
import type { CrdtOperation } from './operation.js';
import { CrdtSignalState } from './signal-state.js';

const code = (c: string) => expect.objectContaining({ code: c });

function stateOf(ops: readonly CrdtOperation[], clock?: HLC): CrdtSignalState {
  const state = new CrdtSignalState(clock ? { clock } : {});
  for (const op of ops) state.apply(op);
  return state;
}

describe('CrdtSignalState', () => {
  it('applies increments, decrements, sets and adds', () => {
    const s = new CrdtSignalState();
    expect(s.apply({ op: 'increment', key: 'item', kind: 'click', by: 3, replica: 'a' })).toBe(true);
    expect(s.apply({ op: 'decrement', key: 'item', kind: 'click', by: 1, replica: 'b' })).toBe(true);
    expect(s.apply({ op: 'set', key: 'item', field: 'label', value: 'cats', hlc: hlcFromParts(5, 0), replica: 'a' })).toBe(true);
    expect(s.apply({ op: 'set', key: 'item', field: 'label', value: 'dogs', hlc: hlcFromParts(4, 0), replica: 'z' })).toBe(false);
    expect(s.apply({ op: 'add', key: 'user', set: 'negatives', member: 'item', replica: 'a' })).toBe(true);
    expect(s.apply({ op: 'add', key: 'user', set: 'negatives', member: 'item', replica: 'b' })).toBe(false);
    expect(s.counterValue('item', 'click')).toBe(2);
    expect(s.counter('item', 'click')?.totalsOf('b')).toEqual({ increments: 0, decrements: 1 });
    expect(s.fieldValue('item', 'label')).toBe('cats');
    expect(s.field('item', 'label')?.replica).toBe('a');
    expect(s.setMembers('user', 'negatives')).toEqual(['item']);
    expect(s.hasMember('user', 'negatives', 'item')).toBe(true);
    expect(s.keys()).toEqual(['item', 'user']);
    expect(s.size).toBe(2);
    const view = s.entity('item')!;
    expect([...view.counters]).toEqual([['click', 2]]);
    expect([...view.fields]).toEqual([['label', 'cats']]);
    expect(s.entity('nobody')).toBeUndefined();
    expect(s.counterValue('nobody', 'click')).toBe(0);
    expect(s.setMembers('nobody', 'x')).toEqual([]);
  });

  it('writes the documented bytes', () => {
    const s = stateOf([
      { op: 'increment', key: 'k', kind: 'c', by: 2, replica: 'r' },
      { op: 'set', key: 'k', field: 'f', value: true, hlc: hlcFromParts(1, 0), replica: 'r' },
      { op: 'add', key: 'k', set: 's', member: 1, replica: 'r' },
    ]);
    expect([...s.encode()]).toEqual([
      0x54,
      0x44,
      0x43,
      0x53,
      2,
      1, // TDCS, version 2, one entity
      1,
      0x6b, // key "k"
      1,
      1,
      0x63,
      1,
      1,
      0x72,
      2,
      0, // counters: "c" → {r: +2 -0}
      1,
      1,
      0x66,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      1,
      0x72,
      2, // fields: "f" → (hlc 1:0, "r", true)
      1,
      1,
      0x73,
      1,
      0x81, // sets: "s" → {1}
    ]);
    expect([...new CrdtSignalState().encode()]).toEqual([0x54, 0x44, 0x43, 0x53, 2, 0]);
  });

  it('applies the counter steps of another device as a merge: past ±(2^53-1) together, refused only past a replica total', () => {
    const s = stateOf([{ op: 'increment', key: 'k', kind: 'c', by: 2 ** 52, replica: 'here' }]);
    const theirs = { op: 'increment', key: 'k', kind: 'c', by: 2 ** 52, replica: 'there' } as const;
    expect(() => s.apply(theirs)).toThrow(code('Overflow'));
    expect(s.apply(theirs, { merged: true })).toBe(true);
    expect(s.entity('k')!.counters.get('c')).toBe(2n ** 53n);
    expect(() => s.apply({ ...theirs, by: 2 ** 52 }, { merged: true })).toThrow(code('Overflow')); // "there"'s total would pass 2^53-1
    expect(s.entity('k')!.counters.get('c')).toBe(2n ** 53n);
  });

  it('still reads a version-1 state: values in the old canonical form', () => {
    // The version-1 golden bytes of the test above: counter c {r: +2}, field f = true, set s = {1} (tag 3).
    const v1 = [
      0x54, 0x44, 0x43, 0x53, 1, 1, 1, 0x6b, 1, 1, 0x63, 1, 1, 0x72, 2, 0, 1, 1, 0x66, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0x72, 2, 1, 1, 0x73, 1, 3,
      1,
    ];
    const s = CrdtSignalState.decode(new Uint8Array(v1));
    expect(s.counterValue('k', 'c')).toBe(2);
    expect(s.fieldValue('k', 'f')).toBe(true);
    expect(s.setMembers('k', 's')).toEqual([1]);
    expect(s.encode()[4]).toBe(2);
  });

  it('refuses every malformed operation before changing anything, and counts it', () => {
    const s = stateOf([{ op: 'increment', key: 'k', kind: 'c', by: Number.MAX_SAFE_INTEGER - 1, replica: 'r' }]);
    const before = s.encode();
    const ok = { op: 'increment', key: 'k', kind: 'c', by: 1, replica: 'r' };
    const okSet = { op: 'set', key: 'k', field: 'f', value: 1, hlc: 1n, replica: 'r' };
    const bad: [unknown, string][] = [
      [null, 'InvalidArgument'],
      ['increment', 'InvalidArgument'],
      [{ ...ok, op: 'multiply' }, 'InvalidArgument'],
      [{ ...ok, by: 0 }, 'InvalidArgument'],
      [{ ...ok, by: -2 }, 'InvalidArgument'],
      [{ ...ok, by: 1.5 }, 'InvalidArgument'],
      [{ ...ok, by: '1' }, 'InvalidArgument'],
      [{ ...ok, by: 2 ** 53 }, 'InvalidArgument'],
      [{ ...ok, by: 2 }, 'Overflow'], // the total would pass 2^53-1
      [{ ...ok, key: '' }, 'InvalidArgument'],
      [{ ...ok, key: 'x'.repeat(1025) }, 'InvalidArgument'],
      [{ ...ok, key: '\ud800' }, 'Unencodable'],
      [{ ...ok, kind: 'a\udc00' }, 'Unencodable'],
      [{ ...ok, key: 7 }, 'InvalidArgument'],
      [{ ...ok, kind: '' }, 'InvalidArgument'],
      [{ ...ok, replica: 'no spaces' }, 'InvalidArgument'],
      [{ ...ok, hlc: -1n }, 'InvalidArgument'],
      [{ ...okSet, hlc: undefined }, 'InvalidArgument'],
      [{ ...okSet, hlc: 5 }, 'InvalidArgument'],
      [{ ...okSet, field: '' }, 'InvalidArgument'],
      [{ op: 'set', key: 'k', field: 'f', hlc: 1n, replica: 'r' }, 'InvalidArgument'],
      [{ ...okSet, value: undefined }, 'Unencodable'],
      [{ ...okSet, value: new Date() }, 'Unencodable'],
      [{ op: 'add', key: 'k', set: 's', replica: 'r' }, 'InvalidArgument'],
      [{ op: 'add', key: 'k', set: 's', member: ['\ud800'], replica: 'r' }, 'Unencodable'],
    ];
    for (const [op, c] of bad) {
      expect(
        () => s.apply(op as CrdtOperation),
        JSON.stringify(op, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).toThrow(code(c));
    }
    expect(s.rejectedOperations).toBe(bad.length);
    expect(s.encode()).toEqual(before);
    expect(s.has('k') && s.size === 1).toBe(true);
  });

  it('with a clock, refuses a far-future stamp without changing state or clock', () => {
    const wall = 1_000_000;
    const clock = new HLC({ now: () => wall });
    const s = new CrdtSignalState({ clock });
    const last = clock.now();
    const future = hlcFromParts(wall + 120_000, 0);
    expect(() => s.apply({ op: 'set', key: 'k', field: 'f', value: 1, hlc: future, replica: 'r' })).toThrow(code('ClockDrift'));
    expect(() => s.apply({ op: 'increment', key: 'k', kind: 'c', by: 1, hlc: future, replica: 'r' })).toThrow(code('ClockDrift'));
    expect(s.size).toBe(0);
    expect(clock.last).toBe(last);
    expect(s.rejectedOperations).toBe(2);

    const peer = stateOf([
      { op: 'increment', key: 'a', kind: 'c', by: 1, replica: 'p' },
      { op: 'set', key: 'b', field: 'f', value: 1, hlc: future, replica: 'p' },
    ]);
    expect(() => s.merge(peer)).toThrow(code('ClockDrift'));
    expect(s.size).toBe(0);
    expect(() => CrdtSignalState.decode(peer.encode(), { clock })).toThrow(code('ClockDrift'));
  });

  it('with a clock, orders later local writes after every stamp it has merged', () => {
    const wall = 1_000;
    const clock = new HLC({ now: () => wall });
    const s = new CrdtSignalState({ clock });
    const ahead = hlcFromParts(wall + 30_000, 5);
    s.merge(stateOf([{ op: 'set', key: 'k', field: 'f', value: 'theirs', hlc: ahead, replica: 'p' }]));
    const mine = clock.now();
    expect(mine > ahead).toBe(true);
    s.apply({ op: 'set', key: 'k', field: 'f', value: 'mine', hlc: mine, replica: 'a' });
    expect(s.fieldValue('k', 'f')).toBe('mine');
  });

  it('reaches the same bytes whatever order the operations come in (seeded)', () => {
    fc.assert(
      fc.property(
        fc
          .array(operationArb, { maxLength: 25 })
          .chain((ops) => fc.tuple(fc.constant(ops), fc.shuffledSubarray(ops, { minLength: ops.length }))),
        ([ops, shuffled]) => {
          expect(stateOf(shuffled).encode()).toEqual(stateOf(ops).encode());
        },
      ),
      { seed: 0x0de7, numRuns: 200 },
    );
  });

  it('merge is commutative, associative and idempotent, and leaves its argument alone (seeded)', () => {
    fc.assert(
      fc.property(signalStateArb, signalStateArb, signalStateArb, (a, b, c) => {
        expectMergeLaws(a, b, c);
        const again = a.clone();
        expect(again.merge(a.clone())).toBe(false);
        expect(again.equals(a)).toBe(true);
        // A merged state is independent of its sources.
        const ab = merged(a, b);
        b.apply({ op: 'increment', key: 'k0', kind: 'view', by: 1, replica: 'r9' });
        expect(ab.clone().merge(b)).toBe(true);
      }),
      { seed: 0x3e29e, numRuns: 200 },
    );
  });

  it('encoding round-trips (seeded)', () => {
    fc.assert(
      fc.property(signalStateArb, (s) => {
        const bytes = s.encode();
        const back = CrdtSignalState.decode(bytes);
        expect(back.encode()).toEqual(bytes);
        expect(back.equals(s)).toBe(true);
      }),
      { seed: 0xe4c0, numRuns: 200 },
    );
  });

  it('decodes as the bytes arrive, front to back: the same state as decoding them whole, whatever the cuts (seeded)', () => {
    fc.assert(
      fc.property(signalStateArb, fc.array(fc.nat(), { maxLength: 8 }), (s, cuts) => {
        const bytes = s.encode();
        const decoder = CrdtSignalState.decoder();
        for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) decoder.advance(bytes.subarray(0, cut));
        expect(decoder.finish(bytes).encode()).toEqual(bytes);
      }),
      { seed: 0x9a27, numRuns: 200 },
    );
    // Every prefix of a state with several entities, in order: each entity decoded once.
    const state = stateOf(
      Array.from({ length: 30 }, (_, i) => ({ op: 'increment', key: `k${i}`, kind: 'c', by: i + 1, replica: 'r' }) as const),
    );
    const bytes = state.encode();
    const decoder = CrdtSignalState.decoder();
    for (let n = 0; n <= bytes.length; n++) decoder.advance(bytes.subarray(0, n));
    const back = decoder.finish(bytes);
    expect(back.encode()).toEqual(bytes);
    expect(back.counterValue('k29', 'c')).toBe(30);
  });

  it('decoding as the bytes arrive refuses only at the end, with the code decoding them whole gives; nothing partial', () => {
    const header = [0x54, 0x44, 0x43, 0x53, 1, 3];
    const entity = (k: number) => [1, k, 1, 1, 0x63, 1, 1, 0x72, 1, 0, 0, 0];
    const refused = (bytes: Uint8Array, expected: string) => {
      const decoder = CrdtSignalState.decoder();
      for (let n = 0; n <= bytes.length; n++) expect(() => decoder.advance(bytes.subarray(0, n))).not.toThrow();
      expect(() => decoder.finish(bytes)).toThrow(code(expected));
      expect(() => CrdtSignalState.decode(bytes)).toThrow(code(expected));
    };
    refused(new Uint8Array([...header, ...entity(0x61), ...entity(0x63), ...entity(0x62)]), 'MalformedPayload'); // keys out of order
    refused(new Uint8Array([...header, ...entity(0x61), ...entity(0x62), ...entity(0x63), 0]), 'MalformedPayload'); // a byte after them
    refused(new Uint8Array([...header, ...entity(0x61), ...entity(0x62)]), 'Truncated'); // one entity short
    refused(new Uint8Array([...header.slice(0, 5), 0x7f, ...entity(0x61), ...entity(0x62)]), 'LengthOutOfBounds'); // far more announced
    refused(new Uint8Array([...header, ...entity(0x61), ...entity(0x62), ...entity(0x63)].slice(0, -1)), 'Truncated');
  });

  it('refuses bad encodings with a specific code and never returns part of a state', () => {
    const good = stateOf([
      { op: 'increment', key: 'a', kind: 'c', by: 2, replica: 'r' },
      { op: 'set', key: 'b', field: 'f', value: 'x', hlc: 1n, replica: 'r' },
    ]).encode();
    const withTail = new Uint8Array([...good, 0]);
    expect(() => CrdtSignalState.decode(withTail)).toThrow(code('MalformedPayload'));
    for (let n = 0; n < good.length; n++) {
      // A cut inside a field reads as Truncated; a cut after a count as a count past the end.
      expect(() => CrdtSignalState.decode(good.subarray(0, n))).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^(Truncated|LengthOutOfBounds)$/) as unknown }),
      );
    }
    const badMagic = good.slice();
    badMagic[0] = 0;
    expect(() => CrdtSignalState.decode(badMagic)).toThrow(code('BadMagic'));
    const newer = good.slice();
    newer[4] = 3;
    expect(() => CrdtSignalState.decode(newer)).toThrow(code('UnsupportedVersion'));
    const manyEntities = good.slice();
    manyEntities[5] = 0x7f;
    expect(() => CrdtSignalState.decode(manyEntities)).toThrow(code('LengthOutOfBounds'));
    // Two entities, "b" before "a".
    const header = [0x54, 0x44, 0x43, 0x53, 1, 2];
    const entity = (k: number) => [1, k, 1, 1, 0x63, 1, 1, 0x72, 1, 0, 0, 0];
    expect(() => CrdtSignalState.decode(new Uint8Array([...header, ...entity(0x62), ...entity(0x61)]))).toThrow(code('MalformedPayload'));
    expect(() => CrdtSignalState.decode(new Uint8Array([...header, ...entity(0x61), ...entity(0x61)]))).toThrow(code('MalformedPayload'));
    expect(CrdtSignalState.decode(new Uint8Array([...header, ...entity(0x61), ...entity(0x62)])).keys()).toEqual(['a', 'b']);
    // An entity with nothing in it, and a counter with no entries.
    expect(() => CrdtSignalState.decode(new Uint8Array([...header.slice(0, 5), 1, 1, 0x61, 0, 0, 0]))).toThrow(code('MalformedPayload'));
    expect(() => CrdtSignalState.decode(new Uint8Array([...header.slice(0, 5), 1, 1, 0x61, 1, 1, 0x63, 0, 0, 0]))).toThrow(
      code('MalformedPayload'),
    );
  });

  it('never fails on corrupted encodings with anything but a TidalError (seeded)', () => {
    fc.assert(
      fc.property(
        signalStateArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (s, flips) => {
          const bytes = s.encode();
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          try {
            CrdtSignalState.decode(bytes);
          } catch (error) {
            expect(isTidalError(error)).toBe(true);
          }
        },
      ),
      { seed: 0xf022, numRuns: 1000 },
    );
  });

  it('clones independently', () => {
    const a = stateOf([{ op: 'add', key: 'k', set: 's', member: 1, replica: 'r' }]);
    const b = a.clone();
    b.apply({ op: 'add', key: 'k', set: 's', member: 2, replica: 'r' });
    expect(a.setMembers('k', 's')).toEqual([1]);
    expect(b.setMembers('k', 's')).toEqual([1, 2]);
  });
});
