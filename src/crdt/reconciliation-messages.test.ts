import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Encoder } from '../common/bytes.js';
import { isTidalError } from '../common/errors.js';
import { hlcFromParts } from './hlc.js';
import {
  decodeEntityRecords,
  decodeReconcileMessage,
  encodeReconcileMessage,
  type ProbeMessage,
  type ReconcileMessage,
  type ReplyMessage,
} from './reconciliation-messages.js';
import { CrdtSignalState } from './signal-state.js';

const code = (c: string) => expect.objectContaining({ code: c });

const u32 = fc.nat({ max: 0xffffffff });

const probeArb: fc.Arbitrary<ProbeMessage> = fc
  .record({
    session: u32,
    round: fc.nat({ max: 1000 }),
    maxMessageBytes: fc.integer({ min: 4096, max: 1 << 24 }),
    probes: fc.array(
      fc.integer({ min: 0, max: 11 }).chain((depth) =>
        fc.record({
          depth: fc.constant(depth),
          prefix: fc.nat({ max: 16 ** depth - 1 }),
          mask: fc.nat({ max: 0xffff }),
        }),
      ),
      { maxLength: 5 },
    ),
    requests: fc.array(u32, { maxLength: 6 }).map((a) => new Uint32Array(a.length % 2 === 0 ? a : a.slice(1))),
    pushes: fc.array(
      fc.record({ counterpart: fc.option(fc.tuple(u32, u32), { nil: undefined }), record: fc.uint8Array({ maxLength: 20 }) }),
      {
        maxLength: 4,
      },
    ),
  })
  .chain((m) =>
    fc
      .tuple(...m.probes.map((p) => fc.array(u32, { minLength: 2 * popcount(p.mask), maxLength: 2 * popcount(p.mask) })))
      .map((digests) => ({
        type: 'probe' as const,
        ...m,
        probes: m.probes.map((p, i) => ({ ...p, digests: new Uint32Array(digests[i]!) })),
      })),
  );

const replyArb: fc.Arbitrary<ReplyMessage> = fc.record({
  type: fc.constant('reply' as const),
  session: u32,
  round: fc.nat({ max: 1000 }),
  maxMessageBytes: fc.integer({ min: 4096, max: 1 << 24 }),
  results: fc.array(
    fc
      .tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }))
      .map(([expand, leaf, list]) => ({ expandMask: expand & ~leaf, leafMask: leaf, listMask: list & leaf }))
      .chain((r) =>
        fc
          .array(fc.array(fc.tuple(u32, u32, u32), { maxLength: 3 }), { minLength: popcount(r.listMask), maxLength: popcount(r.listMask) })
          .map((lists) => ({
            ...r,
            listings: lists.map((entries) => ({
              tags: new Uint32Array(entries.map((e) => e[0])),
              digests: new Uint32Array(entries.flatMap((e) => [e[1], e[2]])),
            })),
          })),
      ),
    { maxLength: 4 },
  ),
  records: fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 4 }),
  pending: fc.nat(),
  skipped: fc.nat(),
});

const messageArb: fc.Arbitrary<ReconcileMessage> = fc.oneof(
  probeArb,
  replyArb,
  fc.record({ type: fc.constant('finish' as const), session: u32 }),
  fc.record({
    type: fc.constant('refused' as const),
    session: u32,
    round: fc.nat(),
    reason: fc.constantFrom(1 as const, 2 as const, 3 as const),
  }),
);

function popcount(mask: number): number {
  let n = 0;
  for (let m = mask; m; m &= m - 1) n++;
  return n;
}

function header(type: number, session = 0x01020304): number[] {
  return [0x54, 0x44, 0x52, 0x43, 2, type, session & 0xff, (session >>> 8) & 0xff, (session >>> 16) & 0xff, session >>> 24];
}

describe('reconciliation messages', () => {
  it('write the documented bytes', () => {
    expect([...encodeReconcileMessage({ type: 'finish', session: 0x01020304 })]).toEqual(header(3));
    expect([...encodeReconcileMessage({ type: 'refused', session: 0x01020304, round: 300, reason: 2 })]).toEqual([
      ...header(4),
      0xac,
      0x02,
      2,
    ]);
    const probe: ProbeMessage = {
      type: 'probe',
      session: 0x01020304,
      round: 1,
      maxMessageBytes: 65536,
      probes: [{ depth: 1, prefix: 5, mask: 0b101, digests: new Uint32Array([1, 2, 3, 4]) }],
      requests: new Uint32Array([9, 10]),
      pushes: [
        { counterpart: [7, 8], record: new Uint8Array([0xaa]) },
        { counterpart: undefined, record: new Uint8Array([]) },
      ],
    };
    expect([...encodeReconcileMessage(probe)]).toEqual([
      ...header(1),
      1,
      0x80,
      0x80,
      0x04, // round 1, bound 65536
      1,
      1,
      5,
      0b101,
      0,
      1,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      4,
      0,
      0,
      0, // one probe: depth 1, prefix 5, mask, 2 digests
      1,
      9,
      0,
      0,
      0,
      10,
      0,
      0,
      0, // one request
      2,
      1,
      7,
      0,
      0,
      0,
      8,
      0,
      0,
      0,
      1,
      0xaa,
      0,
      0, // two pushes
    ]);
    const reply: ReplyMessage = {
      type: 'reply',
      session: 0x01020304,
      round: 1,
      maxMessageBytes: 4096,
      results: [{ expandMask: 1, leafMask: 2, listMask: 2, listings: [{ tags: new Uint32Array([5]), digests: new Uint32Array([6, 7]) }] }],
      records: [new Uint8Array([0xbb])],
      pending: 3,
      skipped: 0,
    };
    expect([...encodeReconcileMessage(reply)]).toEqual([
      ...header(2),
      1,
      0x80,
      0x20, // round 1, bound 4096
      1,
      1,
      0,
      2,
      0,
      2,
      0,
      1,
      5,
      0,
      0,
      0,
      6,
      0,
      0,
      0,
      7,
      0,
      0,
      0, // one result with one listing of one entry
      1,
      1,
      0xbb, // one record
      3,
      0, // pending, skipped
    ]);
  });

  it('round-trip (seeded)', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = encodeReconcileMessage(message);
        const back = decodeReconcileMessage(bytes);
        expect(back).toEqual(message);
        expect(encodeReconcileMessage(back)).toEqual(bytes);
      }),
      { seed: 0x3e55, numRuns: 300 },
    );
  });

  it('refuse every truncation and any trailing byte with MalformedMessage (seeded)', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = encodeReconcileMessage(message);
        for (let n = 0; n < bytes.length; n++) expect(() => decodeReconcileMessage(bytes.subarray(0, n))).toThrow(code('MalformedMessage'));
        expect(() => decodeReconcileMessage(new Uint8Array([...bytes, 0]))).toThrow(code('MalformedMessage'));
      }),
      { seed: 0x7e11, numRuns: 150 },
    );
  });

  it('refuse shapes the format does not allow', () => {
    const cases: [number[], string][] = [
      [[0x54, 0x44, 0x52, 0x44, 1, 3, 0, 0, 0, 0], 'MalformedMessage'], // magic
      [[0x54, 0x44, 0x52, 0x43, 1, 3, 0, 0, 0, 0], 'UnsupportedVersion'], // version 1 held records in the old value form
      [[0x54, 0x44, 0x52, 0x43, 3, 3, 0, 0, 0, 0], 'UnsupportedVersion'],
      [header(9), 'MalformedMessage'], // type
      [[...header(4), 0, 9], 'MalformedMessage'], // refusal reason
      [[...header(1), 0, 0x80, 0x08, 0, 0, 0], 'MalformedMessage'], // bound 1024 < 4096
      [[...header(1), 0, 0x80, 0x20, 1, 12, 0, 0, 0, 0, 0], 'MalformedMessage'], // depth 12 has no children
      [[...header(1), 0, 0x80, 0x20, 1, 1, 16, 0, 0, 0, 0], 'MalformedMessage'], // prefix 16 at depth 1
      [[...header(1), 0, 0x80, 0x20, 0, 0, 1, 2, 0], 'MalformedMessage'], // push flags
      [[...header(1), 0, 0x80, 0x20, 0, 50, 0], 'MalformedMessage'], // more requests than bytes
      [[...header(2), 0, 0x80, 0x20, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0], 'MalformedMessage'], // expand and leaf overlap
      [[...header(2), 0, 0x80, 0x20, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'MalformedMessage'], // listed but not a leaf
    ];
    for (const [bytes, c] of cases) expect(() => decodeReconcileMessage(new Uint8Array(bytes)), JSON.stringify(bytes)).toThrow(code(c));
  });

  it('fail on random bytes behind a valid header only with a TidalError (seeded)', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ maxLength: 80 }), (type, body) => {
        try {
          decodeReconcileMessage(new Uint8Array([...header(type), ...body]));
        } catch (error) {
          expect(isTidalError(error)).toBe(true);
        }
      }),
      { seed: 0xf0f0, numRuns: 3000 },
    );
  });

  it('decode entity records all or nothing', () => {
    const state = new CrdtSignalState();
    state.apply({ op: 'set', key: 'k', field: 'f', value: [1, 'x'], hlc: hlcFromParts(5, 0), replica: 'r' });
    const enc = new Encoder();
    state.entityObject('k')!.writeTo(enc, 'k');
    const record = enc.toBytes();
    const [decoded] = decodeEntityRecords([record]);
    expect(decoded!.key).toBe('k');
    expect(() => decodeEntityRecords([record, new Uint8Array([...record, 0])])).toThrow(code('MalformedMessage'));
    expect(() => decodeEntityRecords([record, record.subarray(0, 5)])).toThrow(code('MalformedMessage'));
    expect(() => decodeEntityRecords([new Uint8Array([1, 0x6b, 0, 0, 0])])).toThrow(code('MalformedMessage'));
  });
});
