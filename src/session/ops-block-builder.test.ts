import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { smallValueArb } from '../crdt/testing/arbitraries.js';
import type { Value } from '../wal/payload.js';
import { Encoder } from '../common/bytes.js';
import { OpsBlockV3Builder } from './ops-block-builder.js';
import { decodeOpsBlockV3, encodeOpsBlockV3 } from './ops-block-v3.js';
import type { ClientOperation } from './write.js';

const opArb = fc.oneof(
  fc.record({
    op: fc.constantFrom('increment' as const, 'decrement' as const),
    key: fc.constantFrom('item-1', 'item-12', 'a😀b'),
    kind: fc.constantFrom('click', 'view'),
    by: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
  }),
  fc.record({
    op: fc.constant('set' as const),
    key: fc.constantFrom('item-1', 'item-2'),
    field: fc.constant('label'),
    value: smallValueArb,
  }),
  fc.record({ op: fc.constant('add' as const), key: fc.constant('item-3'), set: fc.constant('tags'), member: smallValueArb }),
) as fc.Arbitrary<ClientOperation>;

function fill(ops: readonly ClientOperation[], builder: OpsBlockV3Builder): OpsBlockV3Builder {
  for (const op of ops) {
    if (op.op === 'set') builder.set(op.key, op.field, op.value);
    else if (op.op === 'add') builder.add(op.key, op.set, op.member);
    else builder.counter(op.op, op.key, op.kind, op.by);
  }
  return builder;
}

function build(ops: readonly ClientOperation[], builder = new OpsBlockV3Builder()): Uint8Array {
  return fill(ops, builder).finish();
}

describe('OpsBlockV3Builder (a block written an operation at a time)', () => {
  it('writes the version-3 block of what it was given, with a 2-byte header under 128 operations and a 3-byte one from 128', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const block = build(ops);
        expect(decodeOpsBlockV3(block)).toEqual(ops);
        expect(block).toEqual(encodeOpsBlockV3(ops));
        expect([...block.subarray(0, ops.length < 128 ? 2 : 3)]).toEqual(
          ops.length < 128 ? [3, ops.length] : [3, (ops.length & 0x7f) | 0x80, ops.length >> 7],
        );
      }),
      { numRuns: 200 },
    );
  });

  it('finishView gives the bytes finish gives, as a view of its own buffer, not a copy', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const encoder = new Encoder(16);
        const view = fill(ops, new OpsBlockV3Builder(encoder)).finishView();
        expect(view).toEqual(encodeOpsBlockV3(ops));
        expect(view.buffer).toBe(encoder.bytesView().buffer);
      }),
      { numRuns: 100 },
    );
  });

  it('leaves the block as it was when an operation fails to encode, and goes on', () => {
    const builder = new OpsBlockV3Builder();
    builder.counter('increment', 'item-1', 'click', 1);
    // A value the codec refuses, with strings the block had not seen yet: none of them stays in its table.
    expect(() => builder.set('item-new', 'field-new', (() => 1) as unknown as Value)).toThrow();
    expect(builder.count).toBe(1);
    builder.set('item-new', 'field-new', 'x');
    const expected: ClientOperation[] = [
      { op: 'increment', key: 'item-1', kind: 'click', by: 1 },
      { op: 'set', key: 'item-new', field: 'field-new', value: 'x' },
    ];
    const block = builder.finish();
    expect(block).toEqual(encodeOpsBlockV3(expected));
    expect(decodeOpsBlockV3(block)).toEqual(expected);
  });

  it('names each of two strings whose table hashes collide by its own index, also after an operation that added one was undone', () => {
    // FNV-1a over the code units, to 30 bits, as the builder's table hashes them: these two collide.
    const fnv = (text: string) => [...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 0x01000193), 0x811c9dc5) & 0x3fffffff;
    const [a, b] = ['item-97289', 'item-459564'];
    expect(fnv(a)).toBe(fnv(b));
    const ops: ClientOperation[] = [a, b, a, b, 'item-1', b, a].map((key, i) => ({ op: 'increment', key, kind: 'click', by: i + 1 }));
    const builder = new OpsBlockV3Builder();
    builder.counter('increment', a, 'click', 1);
    // Adds b (colliding with a) and 'field-new', then fails: both leave the table.
    expect(() => builder.set(b, 'field-new', (() => 1) as unknown as Value)).toThrow();
    for (const op of ops.slice(1)) if (op.op === 'increment') builder.counter(op.op, op.key, op.kind, op.by);
    const block = builder.finish();
    expect(decodeOpsBlockV3(block)).toEqual(ops);
    expect([...block]).toEqual(referenceCounterBlock(ops));
  });

  it('names every string by its first use of a table of thousands, with failed operations undone in between', () => {
    // 1,500 keys, each used again later (block indices of two LEB128 bytes); before each of
    // the first 1,000 a set of its key fails after adding it and a field name to the table.
    const keys = Array.from({ length: 1_500 }, (_, i) => `item-${(i * 7919) % 100_003}`);
    const ops: ClientOperation[] = [];
    const builder = new OpsBlockV3Builder();
    for (let i = 0; i < 3_000; i++) {
      const key = i < 1_500 ? keys[i]! : keys[(i * 31) % 1_500]!;
      const op: ClientOperation = { op: 'increment', key, kind: `kind-${i % 5}`, by: 1 + (i % 100) };
      if (i < 1_000) expect(() => builder.set(key, `field-${i}`, (() => 1) as unknown as Value)).toThrow();
      builder.counter(op.op, op.key, op.kind, op.by);
      ops.push(op);
    }
    const block = builder.finish();
    expect([...block]).toEqual(referenceCounterBlock(ops));
    expect(decodeOpsBlockV3(block)).toEqual(ops);
  });
});

/**
 * The version-3 block of counter operations of short ASCII strings and steps under 128, written
 * with a table keyed by the strings themselves (the builder's rule: a first use is spelled,
 * front-coded against the string spelled last; a later use is named by its index + 1).
 */
function referenceCounterBlock(ops: readonly ClientOperation[]): number[] {
  const table = new Map<string, number>();
  let previous = '';
  const out = [3, ...leb128(ops.length)];
  const string = (text: string) => {
    const index = table.get(text);
    if (index !== undefined) return out.push(...leb128(index + 1));
    let shared = 0;
    while (shared < Math.min(previous.length, text.length) && previous[shared] === text[shared]) shared++;
    out.push(0, shared, text.length - shared, ...[...text.slice(shared)].map((c) => c.charCodeAt(0)));
    table.set(text, table.size);
    previous = text;
  };
  for (const op of ops) {
    if (op.op !== 'increment') throw new Error('increments only');
    out.push(0);
    string(op.key);
    string(op.kind);
    out.push(op.by);
  }
  return out;
}

/** The LEB128 bytes of `value`. */
function leb128(value: number): number[] {
  const out: number[] = [];
  for (; value > 0x7f; value >>>= 7) out.push((value & 0x7f) | 0x80);
  out.push(value);
  return out;
}
