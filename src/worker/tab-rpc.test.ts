import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTidalErrorCode, type TidalErrorCode } from '../common/errors.js';
import { MAX_FORWARDED_WRITES, parseRpc, type RpcMessage } from './tab-rpc.js';
import { MAX_FRAME_BYTES } from './write-frame.js';

// Hostile traffic on a shard's RPC BroadcastChannel: any same-origin script can post anything
// there. Whatever arrives, parseRpc returns a well-formed message for this shard or `undefined`
// (the host counts and drops it); it never throws and never lets through a message it checked
// only in part. (The writes a 'write' frame carries are checked one by one by the leader: write-frame.test.ts.)

const SHARD = 3;
const CODES: readonly TidalErrorCode[] = ['InvalidArgument', 'Closed', 'StaleWrite', 'SeqGap', 'StorageFull', 'Timeout', 'WrongShard'];

const tab = fc.string({ minLength: 1, maxLength: 64 });
const count = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const outcome = fc.oneof(
  fc.record({ ok: fc.constant(true as const), token: fc.record({ shard: fc.constant(SHARD), lsn: count }) }),
  fc.record({ ok: fc.constant(false as const), code: fc.constantFrom(...CODES), message: fc.string() }),
);
const validRpc: fc.Arbitrary<RpcMessage> = fc.oneof(
  fc.record({ v: fc.constant(1 as const), t: fc.constant('leader' as const), shard: fc.constant(SHARD), tab, since: count, host: tab }),
  fc.record({ v: fc.constant(1 as const), t: fc.constant('who' as const), shard: fc.constant(SHARD), tab }),
  fc.record({
    v: fc.constant(1 as const),
    t: fc.constant('write' as const),
    shard: fc.constant(SHARD),
    from: tab,
    to: tab,
    id: count,
    frame: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({
    v: fc.constant(1 as const),
    t: fc.constant('result' as const),
    shard: fc.constant(SHARD),
    from: tab,
    to: tab,
    id: count,
    outcomes: fc.array(outcome, { maxLength: 6 }),
  }),
);

/** Everything a receiving host relies on, checked independently of the parser. */
function expectWellFormed(m: RpcMessage): void {
  const isTab = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 64;
  const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  expect(m.v).toBe(1);
  expect(m.shard).toBe(SHARD);
  switch (m.t) {
    case 'leader':
      expect(isTab(m.tab) && isCount(m.since) && isTab(m.host)).toBe(true);
      break;
    case 'who':
      expect(isTab(m.tab)).toBe(true);
      break;
    case 'write':
      expect(isTab(m.from) && isTab(m.to) && isCount(m.id)).toBe(true);
      expect(m.frame instanceof Uint8Array && m.frame.length <= MAX_FRAME_BYTES).toBe(true);
      break;
    case 'result':
      expect(isTab(m.from) && isTab(m.to) && isCount(m.id)).toBe(true);
      expect(Array.isArray(m.outcomes) && m.outcomes.length <= MAX_FORWARDED_WRITES).toBe(true);
      for (const o of m.outcomes) {
        expect(typeof o === 'object' && o !== null).toBe(true);
        if (o.ok === true) {
          expect(typeof o.token === 'object' && o.token !== null && o.token.shard === SHARD && isCount(o.token.lsn)).toBe(true);
        } else {
          expect(o.ok).toBe(false);
          // The code becomes the TidalError the caller's write is rejected with: it must be one of ours.
          expect(isTidalErrorCode(o.code)).toBe(true);
          expect(typeof o.message).toBe('string');
        }
      }
      break;
    default:
      throw new Error(`parsed an unknown message type: ${JSON.stringify(m)}`);
  }
}

function parseOrDrop(data: unknown): RpcMessage | undefined {
  const message = parseRpc(data, SHARD); // throwing fails the test
  if (message !== undefined) expectWellFormed(message);
  return message;
}

/** A copy of `m` with the value at `path` replaced (or deleted, when `value` is `undefined`). */
function mutate(m: RpcMessage, path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(m) as unknown;
  let at = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** Every path to a field in `value` (object keys and array indices). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return []; // a frame's bytes: write-frame.test.ts
  return Object.keys(value).flatMap((key) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    return [path, ...pathsOf((value as Record<string, unknown>)[key], path)];
  });
}

describe('tab RPC messages under hostile traffic', () => {
  it('parses every valid message to itself', () => {
    fc.assert(
      fc.property(validRpc, (m) => {
        expect(parseOrDrop(structuredClone(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary values are parsed well-formed or dropped, never thrown on', () => {
    const plausible = fc.record(
      {
        v: fc.oneof(fc.constant(1), fc.anything()),
        t: fc.oneof(fc.constantFrom('leader', 'who', 'write', 'result'), fc.anything()),
        shard: fc.oneof(fc.constant(SHARD), fc.anything()),
        tab: fc.anything(),
        since: fc.anything(),
        host: fc.anything(),
        from: fc.anything(),
        to: fc.anything(),
        id: fc.anything(),
        frame: fc.oneof(fc.uint8Array({ maxLength: 32 }), fc.anything()),
        outcomes: fc.oneof(
          fc.array(fc.anything()),
          fc.array(fc.dictionary(fc.constantFrom('ok', 'token', 'code', 'message'), fc.anything())),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.jsonValue(), plausible), (data) => void parseOrDrop(data)),
      { numRuns: 2000 },
    );
  });

  it('a valid message with any field replaced or removed is parsed well-formed or dropped', () => {
    const hostileValue = fc.oneof(
      fc.anything(),
      fc.constant(undefined), // removes the field
      fc.constantFrom(-1, 1.5, Number.NaN, Infinity, 2 ** 53, '', null, [], {}, 'Bogus', 'x'.repeat(65)),
    );
    fc.assert(
      fc.property(validRpc, fc.nat(), hostileValue, (m, pick, value) => {
        const paths = pathsOf(m);
        const path = paths[pick % paths.length]!;
        parseOrDrop(mutate(m, path, value));
      }),
      { numRuns: 4000 },
    );
  });

  it('drops oversized and foreign messages', () => {
    const base = { v: 1, shard: SHARD, from: 'a', to: 'b', id: 1 };
    expect(parseOrDrop({ ...base, t: 'write', frame: new Uint8Array(MAX_FRAME_BYTES + 1) })).toBeUndefined();
    expect(parseOrDrop({ ...base, t: 'write', frame: [1, 2, 3] })).toBeUndefined(); // bytes only
    expect(parseOrDrop({ ...base, t: 'write', requests: [] })).toBeUndefined(); // the objects of before frames
    expect(
      parseOrDrop({ ...base, t: 'result', outcomes: new Array(MAX_FORWARDED_WRITES + 1).fill({ ok: false, code: 'Closed', message: '' }) }),
    ).toBeUndefined();
    expect(parseOrDrop({ v: 1, t: 'who', shard: SHARD, tab: 'x'.repeat(65) })).toBeUndefined();
    expect(parseOrDrop({ v: 1, t: 'who', shard: SHARD + 1, tab: 'a' })).toBeUndefined();
    expect(parseOrDrop({ v: 2, t: 'who', shard: SHARD, tab: 'a' })).toBeUndefined();
    expect(parseOrDrop({ ...base, t: 'result', outcomes: [{ ok: true, token: { shard: SHARD + 1, lsn: 1 } }] })).toBeUndefined();
    // A hostile tab answering a forwarded write with a code tidal does not have, or none.
    expect(parseOrDrop({ ...base, t: 'result', outcomes: [{ ok: false, code: 'Bogus', message: 'x' }] })).toBeUndefined();
    expect(parseOrDrop({ ...base, t: 'result', outcomes: [{ ok: false, code: '', message: 'x' }] })).toBeUndefined();
    expect(parseOrDrop({ ...base, t: 'result', outcomes: [{ ok: false, code: 'toString', message: 'x' }] })).toBeUndefined();
    // A sparse array's holes are not outcomes.
    expect(parseOrDrop({ ...base, t: 'result', outcomes: new Array(3) })).toBeUndefined();
    // At the bound exactly, accepted.
    expect(parseOrDrop({ ...base, t: 'write', frame: new Uint8Array(MAX_FRAME_BYTES) })?.t).toBe('write');
  });
});
