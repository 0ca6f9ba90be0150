import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTidalError } from '../common/errors.js';
import { smallValueArb } from '../crdt/testing/arbitraries.js';
import { decodePayload, encodePayload } from '../wal/payload.js';
import { decodeOpsBlockV3, decodeOpsBlockV3Stampable, encodeOpsBlockV3, EMPTY_OPS_BLOCK_V3 } from './ops-block-v3.js';
import { asWriteEvent, validateBuiltOperation, validateClientOperation, type ClientOperation } from './write.js';
import { writeEventWithBlock } from './write-event-codec.js';

const SESSION = '0123456789abcdef0123456789abcdef';
const BASE = (1_700_000_000_000n << 16n) | 5n;

const text = (max: number) =>
  fc.oneof(
    fc.constantFrom('item-1', 'item-12', 'item-123', 'click', 'label', '😀', 'a😀b'),
    fc.string({ minLength: 1, maxLength: max, unit: 'grapheme' }),
  );
const clientOpArb = fc.oneof(
  fc.record({
    op: fc.constantFrom('increment' as const, 'decrement' as const),
    key: text(40),
    kind: text(20),
    by: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
  }),
  fc.record({
    op: fc.constant('set' as const),
    key: text(40),
    field: text(20),
    value: fc.oneof(smallValueArb, fc.string({ maxLength: 30 }), fc.constant('')),
  }),
  fc.record({ op: fc.constant('add' as const), key: text(40), set: text(20), member: smallValueArb }),
) as fc.Arbitrary<ClientOperation>;

describe('operations block, version 3 (as the writer encodes it)', () => {
  it('pins the bytes of a small block', () => {
    const block = encodeOpsBlockV3([
      { op: 'increment', key: 'item-12', kind: 'click', by: 1 },
      { op: 'set', key: 'item-1', field: 'label', value: 'cats' },
      { op: 'add', key: 'item-12', set: 'tags', member: 3 },
      { op: 'increment', key: 'tags-9', kind: 'click', by: 300 },
    ]);
    // A string's first use spells it (0, shared, length, UTF-8), front-coded against the string
    // spelled before it; later uses name it (its index + 1).
    expect([...block]).toEqual([
      ...[3, 4], // version 3, 4 operations
      ...[0x00, 0, 0, 7, ...Buffer.from('item-12'), 0, 0, 5, ...Buffer.from('click'), 1], // increment by 1
      ...[0x06, 0, 0, 6, ...Buffer.from('item-1'), 0, 0, 5, ...Buffer.from('label'), 0, 0, 4, ...Buffer.from('cats')], // set, a string value
      ...[0x03, 1, 0, 0, 4, ...Buffer.from('tags'), 0x83], // add item-12 (string 0) tags: the payload value 3
      ...[0x00, 0, 4, 2, ...Buffer.from('-9'), 2, 0xac, 0x02], // increment tags-9 ('tags' + '-9') click (string 1) by 300
    ]);
  });

  it('round-trips what a writer issues, stamped or not, and every logged form reads back', () => {
    fc.assert(
      fc.property(fc.array(clientOpArb, { maxLength: 40 }), (ops) => {
        for (const op of ops) validateClientOperation(op);
        const block = encodeOpsBlockV3(ops);
        expect(decodeOpsBlockV3(block)).toEqual(ops);
        const stamped = decodeOpsBlockV3(block, { replica: 'r', hlc: BASE });
        stamped.forEach((op, i) => expect(op).toEqual({ ...ops[i], replica: 'r', hlc: BASE + BigInt(i) }));
        // In the stamped shape for the leader: the replica set, an HLC slot of 0 for stampWrite to fill.
        expect(decodeOpsBlockV3Stampable(block, 'r')).toEqual(ops.map((op) => ({ ...op, replica: 'r', hlc: 0n })));
        const fields = { t: 'write' as const, session: SESSION, startedAt: 1, seq: 2, acked: 1, at: 3 };
        const logged = writeEventWithBlock(fields, 'r', BASE, block);
        expect(asWriteEvent(decodePayload(encodePayload([logged]), 1)[0]!)).toEqual({ ...fields, ops: stamped });
      }),
      { numRuns: 300 },
    );
    expect(decodeOpsBlockV3(EMPTY_OPS_BLOCK_V3)).toEqual([]);
  });

  it('says each string once: the signal workload takes about 10 bytes an operation', () => {
    const ops: ClientOperation[] = [];
    let seed = 1;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 1000; i++) {
      const key = `item-${Math.floor(next() * 10_000)}`;
      ops.push(
        next() < 0.8
          ? { op: 'increment', key, kind: ['view', 'click', 'save', 'skip'][Math.floor(next() * 4)]!, by: 1 }
          : { op: 'set', key, field: 'label', value: ['cats', 'dogs', 'news', 'art'][Math.floor(next() * 4)]! },
      );
    }
    expect(encodeOpsBlockV3(ops).length / ops.length).toBeLessThan(11);
  });

  it('refuses anything that is not a well-formed block with MalformedPayload or UnsupportedVersion, never anything else', () => {
    const valid = fc.array(clientOpArb, { minLength: 1, maxLength: 8 }).map((ops) => encodeOpsBlockV3(ops));
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Uint8Array.of(3, ...bytes)),
      fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([block, at, xor]) => {
        const flipped = block.slice();
        flipped[at % flipped.length]! ^= xor;
        return flipped;
      }),
      fc.tuple(valid, fc.nat()).map(([block, cut]) => block.subarray(0, cut % block.length)),
      valid.map((block) => Uint8Array.of(...block, 0)),
    );
    fc.assert(
      fc.property(hostile, (bytes) => {
        let ops: ClientOperation[];
        const outcome = (decode: () => unknown) => {
          try {
            decode();
            return 'ok';
          } catch (error) {
            return isTidalError(error) ? `${error.code}: ${error.message}` : String(error);
          }
        };
        // The leader's stampable decode refuses exactly what the plain one refuses, with the same error.
        expect(outcome(() => decodeOpsBlockV3Stampable(bytes, 'r'))).toBe(outcome(() => decodeOpsBlockV3(bytes)));
        try {
          ops = decodeOpsBlockV3(bytes);
        } catch (error) {
          expect(isTidalError(error, 'MalformedPayload') || isTidalError(error, 'UnsupportedVersion'), String(error)).toBe(true);
          return;
        }
        // What it accepts, the writer's own check accepts too: nothing a leader could not have been sent.
        for (const op of ops) validateClientOperation(op);
      }),
      { numRuns: 3000 },
    );
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x10, 0, 0, 1, 97, 0, 0, 1, 98, 1))).toThrow(/unknown head bits/);
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x00, 0, 0, 1, 97, 0, 0, 1, 98, 0))).toThrow(/step is 0/);
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x00, 5, 0, 0, 1, 98, 1))).toThrow(/refers to string 4 of 0/);
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x00, 0, 0, 0, 0, 0, 1, 98, 1))).toThrow(/key is empty/);
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 0x91, 0x4e))).toThrow(/over 10000/);
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x04, 0, 0, 1, 97, 0, 0, 1, 98, 1))).toThrow(/value flag/);
    // A lone surrogate spelled in UTF-8 (CESU) is not UTF-8.
    expect(() => decodeOpsBlockV3(Uint8Array.of(3, 1, 0x00, 0, 0, 3, 0xed, 0xa0, 0x80, 0, 0, 1, 98, 1))).toThrow(/not valid UTF-8/);
  });

  it('the check of operations the API builds refuses exactly what the general check refuses, with the same code', () => {
    const str = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', '\uD800', 'x'.repeat(1025), 'n'.repeat(257), 'ok'));
    const value = fc.oneof(
      fc.anything(),
      str,
      fc.constant(() => 1),
      fc.constant('\uDC00a'),
    );
    const built = fc.oneof(
      fc.record({
        op: fc.constantFrom('increment' as const, 'decrement' as const),
        key: str,
        kind: str,
        by: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 53)),
      }),
      fc.record({ op: fc.constant('set' as const), key: str, field: str, value }),
      fc.record({ op: fc.constant('add' as const), key: str, set: str, member: value }),
    ) as fc.Arbitrary<ClientOperation>;
    const code = (check: () => number) => {
      try {
        check();
        return 'ok';
      } catch (error) {
        return isTidalError(error) ? error.code : `not a TidalError: ${String(error)}`;
      }
    };
    fc.assert(
      fc.property(built, (op) => {
        expect(code(() => validateBuiltOperation(op))).toBe(code(() => validateClientOperation(op)));
      }),
      { numRuns: 2000 },
    );
  });
});
