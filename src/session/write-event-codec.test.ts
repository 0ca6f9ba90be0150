import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { mulberry32 } from '../common/random.js';
import type { CrdtOperation } from '../crdt/operation.js';
import { decodePayload, encodePayload, type Value } from '../wal/payload.js';
import { asWriteEvent, type WriteEvent } from './write.js';
import { encodeWriteEvent } from './write-event-codec.js';

const SESSION = '0123456789abcdef0123456789abcdef';
const BASE = (1_700_000_000_000n << 16n) | 5n;

function event(ops: CrdtOperation[], key?: string): WriteEvent {
  return { t: 'write', session: SESSION, startedAt: 1, seq: 7, acked: 6, at: 1_700_000_000_123, ...(key ? { key } : {}), ops };
}

/** The signal workload's operations (80% increments over 4 kinds, 20% label sets, 10k entities), as a leader stamps them. */
function signalOps(count: number, seed: number): CrdtOperation[] {
  const random = mulberry32(seed);
  const kinds = ['view', 'click', 'save', 'skip'];
  const labels = ['cats', 'dogs', 'news', 'music', 'sports', 'science', 'art', 'travel'];
  return Array.from({ length: count }, (_, i): CrdtOperation => {
    const key = `item-${Math.floor(random() * 10_000)}`;
    const hlc = BASE + BigInt(i);
    return random() < 0.8
      ? { op: 'increment', key, kind: kinds[Math.floor(random() * 4)]!, by: 1, replica: 'tab-1a2b3c4d.0', hlc }
      : { op: 'set', key, field: 'label', value: labels[Math.floor(random() * 8)]!, replica: 'tab-1a2b3c4d.0', hlc };
  });
}

/** Logs `e` (version 2) in a WAL payload and reads it back. */
function roundTrip(e: WriteEvent): WriteEvent {
  const payload = encodePayload([encodeWriteEvent(e)]);
  return asWriteEvent(decodePayload(payload, 1)[0]!);
}

describe('write events, version 2 (operations as one block)', () => {
  it('pins the bytes of a small event', () => {
    const logged = encodeWriteEvent(
      event([
        { op: 'increment', key: 'item-12', kind: 'click', by: 1, replica: 'r', hlc: BASE },
        { op: 'set', key: 'item-1', field: 'label', value: 'cats', replica: 'r', hlc: BASE + 1n },
        { op: 'add', key: 'item-12', set: 'tags', member: 3, replica: 'r', hlc: BASE + 3n },
      ]),
    ) as Record<string, Value>;
    expect(logged['v']).toBe(2);
    expect(logged['replica']).toBe('r');
    expect(logged['hlc']).toBe(BASE);
    // Table (sorted, front-coded): cats, click(c+lick), item-1, item-12(item-1+2), label, tags.
    expect([...(logged['ops'] as Uint8Array)]).toEqual([
      ...[0x02, 6],
      ...[0, 4, ...Buffer.from('cats')],
      ...[1, 4, ...Buffer.from('lick')],
      ...[0, 6, ...Buffer.from('item-1')],
      ...[6, 1, ...Buffer.from('2')],
      ...[0, 5, ...Buffer.from('label')],
      ...[0, 4, ...Buffer.from('tags')],
      3,
      ...[0x08, 3, 1, 1, 0], // increment item-12 click by 1, hlc +0
      ...[0x0e, 2, 4, 0, 1], // set item-1 label = 'cats' (a table string), hlc +1
      ...[0x0b, 3, 5, 0x83, 2], // add item-12 tags 3 (a payload value), hlc +2
    ]);
  });

  it('round-trips seeded events of every operation and value, and reads version-1 events as before', () => {
    const random = mulberry32(42);
    const values: Value[] = [
      null,
      true,
      0,
      -1,
      1.5,
      2n ** 70n,
      '',
      'x',
      '\uFEFFbom',
      '😀 emoji',
      new Uint8Array([1, 2]),
      [1, 'a'],
      { a: { b: [] } },
    ];
    for (let round = 0; round < 200; round++) {
      const ops: CrdtOperation[] = [];
      let hlc = BASE;
      const n = Math.floor(random() * 20);
      for (let i = 0; i < n; i++) {
        hlc += BigInt(Math.floor(random() * 3));
        const key = ['a', 'ab', 'abc', 'b', '\ud83d\ude00', '\ud83d\ude01x'][Math.floor(random() * 6)]!;
        const value = values[Math.floor(random() * values.length)]!;
        const pick = Math.floor(random() * 5);
        ops.push(
          pick === 0
            ? { op: 'increment', key, kind: 'n', by: 1 + Math.floor(random() * 1e9), replica: 'r', hlc }
            : pick === 1
              ? { op: 'decrement', key, kind: 'm', by: 2, replica: 'r' }
              : pick === 2
                ? { op: 'set', key, field: 'f', value, replica: 'r', hlc }
                : { op: 'add', key, set: 's', member: value, replica: 'r', hlc },
        );
      }
      const e = event(ops, round % 3 === 0 ? `key-${round}` : undefined);
      expect(roundTrip(e), `round ${round}`).toEqual(e);
      expect(asWriteEvent(decodePayload(encodePayload([e as unknown as Value]), 1)[0]!)).toEqual(e); // version 1
    }
  });

  it('keeps version 1 for operations of several replicas or with HLCs going back', () => {
    const two = event([
      { op: 'increment', key: 'k', kind: 'n', by: 1, replica: 'a', hlc: BASE },
      { op: 'increment', key: 'k', kind: 'n', by: 1, replica: 'b', hlc: BASE + 1n },
    ]);
    expect((encodeWriteEvent(two) as Record<string, Value>)['v']).toBeUndefined();
    expect(roundTrip(two)).toEqual(two);
    const back = event([
      { op: 'increment', key: 'k', kind: 'n', by: 1, replica: 'a', hlc: BASE + 1n },
      { op: 'increment', key: 'k', kind: 'n', by: 1, replica: 'a', hlc: BASE },
    ]);
    expect((encodeWriteEvent(back) as Record<string, Value>)['v']).toBeUndefined();
  });

  it('says the signal workload in at most 13 log bytes per operation (a tick of 250 to a shard)', () => {
    const ops = signalOps(250, 7);
    const v2 = encodePayload([encodeWriteEvent(event(ops))]).byteLength;
    const v1 = encodePayload(ops.map((op, i) => ({ ...event([op]), seq: i + 1 }) as unknown as Value)).byteLength;
    expect(v2 / ops.length).toBeLessThanOrEqual(13);
    expect(v1 / ops.length).toBeGreaterThan(150); // what one write per event took
  });

  it('refuses every truncation, every extra byte and every flipped byte with a TidalError, never anything else', () => {
    const logged = encodeWriteEvent(event(signalOps(40, 3))) as Record<string, Value>;
    const block = logged['ops'] as Uint8Array;
    const read = (ops: Uint8Array) => asWriteEvent({ ...logged, ops });
    const refusals = new Set<string>();
    for (let cut = 0; cut < block.length; cut++) {
      try {
        read(block.subarray(0, cut));
        throw new Error(`a block cut at ${cut} was accepted`);
      } catch (error) {
        expect(isTidalError(error), String(error)).toBe(true);
        refusals.add((error as { code: string }).code);
      }
    }
    expect(() => read(new Uint8Array([...block, 0]))).toThrow(/after the last operation/);
    for (let i = 0; i < block.length; i++) {
      const flipped = block.slice();
      flipped[i]! ^= 0xff;
      try {
        read(flipped); // may decode to other valid operations: the BLAKE3 digest, not this, catches a flip
      } catch (error) {
        expect(isTidalError(error), `flip at ${i}: ${String(error)}`).toBe(true);
      }
    }
    expect(refusals).toEqual(new Set(['MalformedPayload']));
    expect(() => asWriteEvent({ ...logged, ops: new Uint8Array([4, 0, 0]) })).toThrow(/version 4/);
    expect(() => asWriteEvent({ ...logged, v: 3 })).toThrow(/version 3/);
  });
});
