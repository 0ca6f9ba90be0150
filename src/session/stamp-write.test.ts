import { describe, expect, it } from 'vitest';
import { HLC } from '../crdt/hlc.js';
import type { CrdtOperation } from '../crdt/operation.js';
import { decodeOpsBlockV3, decodeOpsBlockV3Stampable, encodeOpsBlockV3 } from './ops-block-v3.js';
import { stampWrite, withoutEffect } from './stamp-write.js';
import type { ClientOperation, WriteRequest } from './write.js';

const OPS: ClientOperation[] = [
  { op: 'increment', key: 'item-1', kind: 'click', by: 2 },
  { op: 'set', key: 'item-1', field: 'label', value: 'cats' },
  { op: 'add', key: 'item-2', set: 'tags', member: 3 },
  { op: 'decrement', key: 'item-2', kind: 'view', by: 1 },
];
const block = encodeOpsBlockV3(OPS);
const fields = { session: '0123456789abcdef0123456789abcdef', startedAt: 1, seq: 2, acked: 1 };
const clock = () => new HLC({ now: () => 1_700_000_000_000 });

describe('stampWrite', () => {
  it('stamps operations decoded in the stamped shape for this leader in place, as it stamps copies of any others', () => {
    const plain: WriteRequest = { ...fields, ops: decodeOpsBlockV3(block), block };
    const stampable: WriteRequest = { ...fields, ops: decodeOpsBlockV3Stampable(block, 'l'), block, stampableBy: 'l' };
    const copied = stampWrite(plain, { replica: 'l', hlc: clock(), at: 5 });
    const inPlace = stampWrite(stampable, { replica: 'l', hlc: clock(), at: 5 });
    expect(inPlace).toEqual(copied);
    // The request's own objects, their HLCs filled in: consecutive from the first reserved.
    inPlace.event.ops.forEach((op, i) => expect(op).toBe(stampable.ops[i]));
    const first = inPlace.event.ops[0]!.hlc!;
    inPlace.event.ops.forEach((op: CrdtOperation, i) => expect(op.hlc).toBe(first + BigInt(i)));
    // A plain request's operations are left as they were.
    expect(plain.ops).toEqual(OPS);
  });

  it("copies operations decoded for another replica (never stamping another leader's shape), and drops the mark from an empty write", () => {
    const other: WriteRequest = { ...fields, ops: decodeOpsBlockV3Stampable(block, 'old-leader'), block, stampableBy: 'old-leader' };
    const { event } = stampWrite(other, { replica: 'l', hlc: clock(), at: 5 });
    event.ops.forEach((op, i) => {
      expect(op).not.toBe(other.ops[i]);
      expect(op.replica).toBe('l');
    });
    expect(other.ops.map((op) => (op as CrdtOperation).hlc)).toEqual([0n, 0n, 0n, 0n]);
    const empty = withoutEffect(other);
    expect(empty.ops).toEqual([]);
    expect(empty.stampableBy).toBeUndefined();
  });
});
