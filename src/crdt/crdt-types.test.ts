import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../common/bytes.js';
import { isTidalError } from '../common/errors.js';
import { gSetArb, lwwRegisterArb, pnCounterArb } from './testing/arbitraries.js';
import { expectMergeLaws, merged, type Mergeable } from './testing/merge-laws.js';
import { GSet } from './g-set.js';
import { hlcFromParts } from './hlc.js';
import { LWWRegister } from './lww-register.js';
import { PNCounter } from './pn-counter.js';
import { isReplicaId } from './replica-id.js';
import type { CrdtValue } from '../common/value.js';

const code = (c: string) => expect.objectContaining({ code: c });

/** Checks the three merge laws (on canonical bytes) and that merge leaves its argument alone. */
function mergeLaws<T extends Mergeable<T>>(name: string, arb: fc.Arbitrary<T>, decode: (bytes: Uint8Array) => T, seed: number): void {
  it(`${name}: merge is commutative, associative and idempotent (seeded)`, () => {
    fc.assert(
      fc.property(arb, arb, arb, (a, b, c) => {
        expectMergeLaws(a, b, c);
        const ab = merged(a, b);
        expect(ab.clone().merge(b)).toBe(false);
      }),
      { seed, numRuns: 300 },
    );
  });
  it(`${name}: encoding round-trips, and every truncation or extra byte is refused with a code (seeded)`, () => {
    fc.assert(
      fc.property(arb, (a) => {
        const bytes = a.encode();
        expect(decode(bytes).encode()).toEqual(bytes);
        for (let n = 0; n < bytes.length; n++) {
          expect(() => decode(bytes.subarray(0, n))).toThrow();
          try {
            decode(bytes.subarray(0, n));
          } catch (error) {
            expect(isTidalError(error)).toBe(true);
          }
        }
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(() => decode(longer)).toThrow(code('MalformedPayload'));
      }),
      { seed: seed + 1, numRuns: 150 },
    );
  });
}

describe('isReplicaId', () => {
  it('refuses a bad id also right after a valid one was checked (the last valid id is remembered)', () => {
    expect(isReplicaId('tab-a')).toBe(true);
    expect(isReplicaId('tab-a')).toBe(true);
    for (const bad of ['', 'tab a', 'x'.repeat(65), undefined, null, 7]) expect(isReplicaId(bad)).toBe(false);
    expect(isReplicaId('tab-b')).toBe(true);
  });
});

describe('PNCounter', () => {
  it('counts increments minus decrements over all replicas', () => {
    const c = new PNCounter();
    c.increment('a', 3);
    c.increment('a');
    c.decrement('b', 2);
    expect(c.value()).toBe(2);
    expect(c.bigValue()).toBe(2n);
    expect(c.totalsOf('a')).toEqual({ increments: 4, decrements: 0 });
    expect(c.totalsOf('zz')).toEqual({ increments: 0, decrements: 0 });
    expect(c.replicas()).toEqual(['a', 'b']);
  });

  it('merges by per-replica maximum, so re-merging counts nothing twice', () => {
    const a = new PNCounter();
    a.increment('a', 5);
    const b = a.clone();
    b.increment('b', 2);
    a.increment('a', 1);
    expect(a.merge(b)).toBe(true);
    expect(a.merge(b)).toBe(false);
    expect(a.value()).toBe(8);
  });

  it('writes the documented bytes', () => {
    const c = new PNCounter();
    c.increment('b', 1);
    c.decrement('b', 2);
    c.increment('a', 3);
    expect([...c.encode()]).toEqual([2, 1, 0x61, 3, 0, 1, 0x62, 1, 2]);
  });

  it('decodes replica ids it read lately as they are, and checks one that differs in any byte', () => {
    // Counters naming replicas 'aa' and 'ab' (each id: length byte, body), then 'a b' of the same length as a cached one.
    const one = (replica: number[]) => new Uint8Array([1, replica.length, ...replica, 1, 0]);
    expect(PNCounter.decode(one([0x61, 0x61])).value()).toBe(1);
    expect(PNCounter.decode(new Uint8Array([2, 2, 0x61, 0x61, 1, 0, 2, 0x61, 0x62, 2, 0])).value()).toBe(3);
    for (let i = 0; i < 3; i++) expect([...PNCounter.decode(one([0x61, 0x62])).encode()]).toEqual([...one([0x61, 0x62])]);
    expect(() => PNCounter.decode(one([0x61, 0x20]))).toThrow(code('MalformedPayload')); // 'a ' is no replica id
    expect(() => PNCounter.decode(new Uint8Array([1, 2, 0x61, 0x61, 0, 0]))).toThrow(code('MalformedPayload')); // known id, all-zero entry
    expect(PNCounter.decode(new Uint8Array([1, 2, 0x61, 0x61, 5, 0])).value()).toBe(5);
  });

  it('refuses bad steps with InvalidArgument, totals past 2^53-1 with Overflow, and changes nothing', () => {
    const c = new PNCounter();
    c.increment('a', Number.MAX_SAFE_INTEGER - 1);
    const before = c.encode();
    for (const by of [0, -1, 1.5, NaN, Infinity, 2 ** 53, '1', 1n]) {
      expect(() => c.increment('a', by as number)).toThrow(code('InvalidArgument'));
    }
    expect(() => c.increment('a', 2)).toThrow(code('Overflow'));
    expect(() => c.increment('', 1)).toThrow(code('InvalidArgument'));
    expect(() => c.decrement('a b', 1)).toThrow(code('InvalidArgument'));
    expect(c.encode()).toEqual(before);
    c.increment('a', 1);
    expect(c.value()).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses a step that takes the value past ±(2^53-1) with Overflow, but not one back toward zero', () => {
    const c = new PNCounter();
    c.increment('a', 2 ** 52);
    expect(() => c.increment('b', 2 ** 52)).toThrow(code('Overflow'));
    c.increment('b', 2 ** 52 - 1);
    expect(c.exactValue()).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => c.increment('a', 1)).toThrow(code('Overflow'));
    expect(c.totalsOf('a')).toEqual({ increments: 2 ** 52, decrements: 0 });
    c.decrement('a', 2 ** 53 - 1);
    c.decrement('b', 2 ** 53 - 1);
    expect(c.exactValue()).toBe(-Number.MAX_SAFE_INTEGER);
    expect(() => c.decrement('c', 1)).toThrow(code('Overflow'));
  });

  it('merges past 2^53 without refusing, and reports that value exactly as a bigint', () => {
    const a = new PNCounter();
    a.increment('a', Number.MAX_SAFE_INTEGER);
    const b = new PNCounter();
    b.increment('b', Number.MAX_SAFE_INTEGER);
    expect(a.merge(b)).toBe(true);
    expect(a.bigValue()).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER));
    expect(a.exactValue()).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER));
    expect(() => a.increment('c', 1)).toThrow(code('Overflow')); // further from zero
    a.decrement('c', 1); // back toward it
    expect(a.exactValue()).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER) - 1n);
    const back = new PNCounter();
    back.decrement('d', Number.MAX_SAFE_INTEGER);
    a.merge(back);
    expect(a.exactValue()).toBe(Number.MAX_SAFE_INTEGER - 1); // a number again, once in range
  });

  it('refuses non-canonical encodings', () => {
    expect(() => PNCounter.decode(new Uint8Array([2, 1, 0x62, 1, 0, 1, 0x61, 1, 0]))).toThrow(code('MalformedPayload')); // unsorted
    expect(() => PNCounter.decode(new Uint8Array([2, 1, 0x61, 1, 0, 1, 0x61, 2, 0]))).toThrow(code('MalformedPayload')); // repeated
    expect(() => PNCounter.decode(new Uint8Array([1, 1, 0x61, 0, 0]))).toThrow(code('MalformedPayload')); // all zero
    expect(() => PNCounter.decode(new Uint8Array([1, 1, 0x20, 1, 0]))).toThrow(code('MalformedPayload')); // bad replica id
    expect(() => PNCounter.decode(new Uint8Array([100, 1, 0x61, 1, 0]))).toThrow(code('LengthOutOfBounds'));
  });

  mergeLaws('PNCounter', pnCounterArb, (b) => PNCounter.decode(b), 0x9c1);
});

describe('LWWRegister', () => {
  const t = (ms: number, counter = 0) => hlcFromParts(ms, counter);

  it('keeps the write with the greater (HLC, replica)', () => {
    const r = LWWRegister.of('first', t(10), 'b');
    expect(r.set('older', t(9), 'z')).toBe(false);
    expect(r.set('tie-lower-replica', t(10), 'a')).toBe(false);
    expect(r.set('tie-higher-replica', t(10), 'c')).toBe(true);
    expect(r.value).toBe('tie-higher-replica');
    expect(r.set('later', t(10, 1), 'a')).toBe(true);
    expect([r.value, r.hlc, r.replica]).toEqual(['later', t(10, 1), 'a']);
  });

  it('breaks an exact stamp tie on the value bytes, so merge stays commutative', () => {
    const a = LWWRegister.of('x', t(1), 'r');
    const b = LWWRegister.of('y', t(1), 'r');
    const ab = a.clone();
    ab.merge(b);
    const ba = b.clone();
    ba.merge(a);
    expect(ab.value).toBe('y');
    expect(ba.value).toBe('y');
  });

  it('keeps its value exactly as written: -0, NaN, Infinity, key order', () => {
    for (const value of [-0, NaN, -Infinity, { b: 1, a: -0 }, '\uFEFFx']) {
      const r = LWWRegister.of(value, t(1), 'r');
      const back = LWWRegister.decode(r.encode());
      for (const held of [r.value, back.value]) {
        if (typeof value === 'object') {
          expect(Object.keys(held as object)).toEqual(['b', 'a']);
          expect(Object.is((held as { a: number }).a, -0)).toBe(true);
        } else expect(Object.is(held, value)).toBe(true);
      }
    }
  });

  it('breaks a stamp tie between equal values (0 and -0, key orders) on exact bytes, commutatively', () => {
    for (const [x, y] of [
      [0, -0],
      [
        { a: 1, b: 2 },
        { b: 2, a: 1 },
      ],
    ] as const) {
      const a = LWWRegister.of(x, t(1), 'r');
      const b = LWWRegister.of(y, t(1), 'r');
      const ab = a.clone();
      ab.merge(b);
      const ba = b.clone();
      ba.merge(a);
      expect(ab.encode()).toEqual(ba.encode());
    }
  });

  it('copies the value it is given', () => {
    const value = { tags: ['a'] };
    const r = LWWRegister.of(value, t(1), 'r');
    value.tags.push('b');
    expect(r.value).toEqual({ tags: ['a'] });
  });

  it('writes the documented bytes', () => {
    const r = LWWRegister.of('x', hlcFromParts(1, 2), 'r');
    expect([...r.encode()]).toEqual([2, 0, 1, 0, 0, 0, 0, 0, 1, 0x72, 8, 1, 0x78]);
  });

  it('refuses bad stamps and values', () => {
    expect(() => LWWRegister.of('x', -1n, 'r')).toThrow(code('InvalidArgument'));
    expect(() => LWWRegister.of('x', 1n, '')).toThrow(code('InvalidArgument'));
    expect(() => LWWRegister.of(undefined as unknown as CrdtValue, 1n, 'r')).toThrow(code('Unencodable'));
    const r = LWWRegister.of('x', 1n, 'r');
    expect(() => r.set('\ud800', 5n, 'r')).toThrow(code('Unencodable'));
    expect(r.value).toBe('x');
    expect(() => LWWRegister.decode(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0]))).toThrow(code('MalformedPayload'));
  });

  mergeLaws('LWWRegister', lwwRegisterArb, (b) => LWWRegister.decode(b), 0x1ee);
});

describe('GSet', () => {
  it('is a set of values by canonical equality, grown by union', () => {
    const s = new GSet();
    expect(s.add({ a: 1, b: 2 })).toBe(true);
    expect(s.add({ b: 2, a: 1 })).toBe(false);
    expect(s.has({ b: 2, a: 1 })).toBe(true);
    expect(s.has(1)).toBe(false);
    const other = new GSet();
    other.add('hard-negative');
    expect(s.merge(other)).toBe(true);
    expect(s.merge(other)).toBe(false);
    expect(s.has('hard-negative')).toBe(true);
    expect(s.size).toBe(2);
  });

  it('writes members sorted by their bytes', () => {
    const s = new GSet();
    s.add('b');
    s.add(1);
    s.add('a');
    expect([...s.encode()]).toEqual([3, 8, 1, 0x61, 8, 1, 0x62, 0x81]);
    expect(s.values()).toEqual(['a', 'b', 1]);
  });

  it('holds 0 and -0 as one member, NaN as one, and each member in canonical form (as Set holds -0 as 0)', () => {
    const s = new GSet();
    expect(s.add(-0)).toBe(true);
    expect(s.add(0)).toBe(false);
    expect(s.add(NaN)).toBe(true);
    expect(s.add(0 / 0)).toBe(false);
    expect(s.add({ b: [-0], a: 1 })).toBe(true);
    expect(s.has({ a: 1, b: [0] })).toBe(true);
    const members = GSet.decode(s.encode()).values();
    expect(members).toHaveLength(3);
    expect(
      Object.is(
        members.find((m) => m === 0),
        0,
      ),
    ).toBe(true);
    const object = members.find((m) => typeof m === 'object') as { b: number[] };
    expect(Object.keys(object)).toEqual(['a', 'b']);
    expect(Object.is(object.b[0], 0)).toBe(true);
  });

  it('reads the members of a version-1 state (old canonical form) and re-canonicalizes them', () => {
    // 0 and -0 as two old members (tag 3, then the f64 of -0): one member now.
    const old = new Uint8Array([2, 3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    const set = GSet.readFrom(new Decoder(old), true);
    expect(set.size).toBe(1);
    expect([...set.encode()]).toEqual([1, 0x80]);
    expect(() => GSet.decode(old)).toThrow(code('MalformedPayload'));
  });

  it('refuses unsorted or repeated members', () => {
    expect(() => GSet.decode(new Uint8Array([2, 8, 1, 0x62, 8, 1, 0x61]))).toThrow(code('MalformedPayload'));
    expect(() => GSet.decode(new Uint8Array([2, 8, 1, 0x61, 8, 1, 0x61]))).toThrow(code('MalformedPayload'));
    expect(() => new GSet().add(Symbol('x') as unknown as CrdtValue)).toThrow(code('Unencodable'));
  });

  mergeLaws('GSet', gSetArb, (b) => GSet.decode(b), 0x65e);
});
