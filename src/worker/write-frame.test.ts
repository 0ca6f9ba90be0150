import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTidalError } from '../common/errors.js';
import { isWellFormedString } from '../common/value.js';
import { encodeOpsBlockV3 } from '../session/ops-block-v3.js';
import { validateWriteRequest, type WriteRequest } from '../session/write.js';
import { checkWriteFrame, decodeWriteFrame, encodeWriteFrame, MAX_FRAME_REQUESTS } from './write-frame.js';

const SHARD = 2;
const session = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
const requestArb: fc.Arbitrary<WriteRequest> = fc
  .record({
    session,
    startedAt: fc.maxSafeNat(),
    seq: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
    ops: fc.array(
      fc.oneof(
        fc.record({
          op: fc.constant('increment' as const),
          key: fc.string({ minLength: 1, maxLength: 12 }),
          kind: fc.constantFrom('view', 'click'),
          by: fc.integer({ min: 1, max: 9 }),
        }),
        fc.record({
          op: fc.constant('set' as const),
          key: fc.constantFrom('item-1', 'item-2'),
          field: fc.constant('label'),
          value: fc.oneof(fc.string(), fc.integer(), fc.boolean()),
        }),
      ),
      { maxLength: 6 },
    ),
    key: fc.option(
      fc.string({ minLength: 1, maxLength: 20 }).filter((k) => isWellFormedString(k)),
      { nil: undefined },
    ),
  })
  .chain((r) =>
    fc.integer({ min: 0, max: r.seq - 1 }).map((acked) => ({
      session: r.session,
      startedAt: r.startedAt,
      seq: r.seq,
      acked,
      ops: r.ops,
      ...(r.key !== undefined ? { idempotencyKey: r.key } : {}),
    })),
  );

/** A request as it comes out of a frame: the request with its block. */
const received = (r: WriteRequest) => ({ ...r, block: encodeOpsBlockV3(r.ops) });

describe('write frames (main thread → shard worker, follower tab → leader tab)', () => {
  it('carries a tick of requests through unchanged, each with its block', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { maxLength: 5 }), (requests) => {
        const frame = encodeWriteFrame(SHARD, requests);
        expect(checkWriteFrame(frame, SHARD)).toBe(requests.length);
        const entries = decodeWriteFrame(frame, SHARD);
        expect(entries).toEqual(requests.map((r) => ({ ok: true, request: received(r) })));
      }),
      { numRuns: 300 },
    );
  });

  it('pins the header and refuses a frame for another shard, of another version, or with flags', () => {
    const frame = encodeWriteFrame(SHARD, []);
    expect([...frame]).toEqual([0x54, 0x44, 0x4c, 0x57, 1, 0, SHARD, 0, 0]);
    expect(() => decodeWriteFrame(frame, SHARD + 1)).toThrow(/MalformedMessage: a write frame for shard 2 reached shard 3/);
    expect(() => decodeWriteFrame(Uint8Array.of(0x54, 0x44, 0x4c, 0x57, 2, 0, SHARD, 0, 0), SHARD)).toThrow(/UnsupportedVersion/);
    expect(() => decodeWriteFrame(Uint8Array.of(0x54, 0x44, 0x4c, 0x57, 1, 1, SHARD, 0, 0), SHARD)).toThrow(/flags/);
    expect(() => decodeWriteFrame([1, 2, 3], SHARD)).toThrow(/must be a Uint8Array, got Array/);
    expect(() => decodeWriteFrame(Uint8Array.of(...frame, 0), SHARD)).toThrow(/1 bytes after the last request/);
  });

  it('refuses a malformed request on its own, naming it and what was wrong; the others go on', () => {
    const good = (seq: number): WriteRequest => ({
      session: 'ab'.repeat(16),
      startedAt: 5,
      seq,
      acked: 0,
      ops: [{ op: 'increment', key: 'k', kind: 'view', by: 1 }],
    });
    const frame = encodeWriteFrame(SHARD, [good(1), good(2), good(3)]);
    expect(decodeWriteFrame(frame, SHARD).every((e) => e.ok)).toBe(true);
    // The second request's step (the last byte of its record) made 0.
    const record = (frame.length - 9) / 3; // header 8, count 1; three records of one size, each with its length
    const broken = frame.slice();
    broken[9 + 2 * record - 1] = 0;
    const outcome = decodeWriteFrame(broken, SHARD);
    expect(outcome.map((e) => e.ok)).toEqual([true, false, true]);
    const refused = outcome[1]!;
    if (refused.ok) throw new Error('unreachable');
    expect(refused.error.code).toBe('MalformedMessage');
    expect(refused.error.message).toMatch(/write request 1 of the frame: .*step is 0/);
    // acked not below seq
    const stale = encodeWriteFrame(SHARD, [{ ...good(4), acked: 4 }]);
    const [entry] = decodeWriteFrame(stale, SHARD);
    expect(entry!.ok === false && entry!.error.message).toMatch(/acked \(4\) must be below seq \(4\)/);
  });

  it('never throws anything but a TidalError, and hands the leader only requests its own check accepts', () => {
    const valid = fc.array(requestArb, { minLength: 1, maxLength: 3 }).map((rs) => encodeWriteFrame(SHARD, rs));
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }).map((b) => Uint8Array.of(0x54, 0x44, 0x4c, 0x57, 1, 0, SHARD, 0, ...b)),
      fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([frame, at, xor]) => {
        const flipped = frame.slice();
        flipped[at % flipped.length]! ^= xor;
        return flipped;
      }),
      fc.tuple(valid, fc.nat()).map(([frame, cut]) => frame.subarray(0, cut % frame.length)),
    );
    fc.assert(
      fc.property(hostile, (bytes) => {
        let entries;
        try {
          entries = decodeWriteFrame(bytes, SHARD);
        } catch (error) {
          expect(isTidalError(error, 'MalformedMessage') || isTidalError(error, 'UnsupportedVersion'), String(error)).toBe(true);
          return;
        }
        for (const entry of entries) {
          if (entry.ok)
            validateWriteRequest(entry.request); // the leader's full check, which it skips for framed requests
          else expect(entry.error.code).toBe('MalformedMessage');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('bounds what a frame can make a worker hold', () => {
    const header = [0x54, 0x44, 0x4c, 0x57, 1, 0, SHARD, 0];
    // More requests than allowed: refused once the bound is crossed, before reading them all.
    const many = Uint8Array.of(...header, 0x91, 0x4e, ...new Array(MAX_FRAME_REQUESTS + 1).fill(0));
    expect(() => checkWriteFrame(many, SHARD)).toThrow(/more than 10000 requests/);
    // A record longer than what remains.
    expect(() => decodeWriteFrame(Uint8Array.of(...header, 1, 50, 1, 2), SHARD)).toThrow(/claims 50 bytes, 2 remain/);
  });
});
