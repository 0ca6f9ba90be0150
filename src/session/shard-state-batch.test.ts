/**
 * `ShardState.prepareBatch`, what a follower applies a verified batch
 * with: the same state, and the same refusals, as reading the payload the
 * general way (`decodePayload`, `checkVersion` on every event, `prepare`
 * on each), for every form of event a log holds, clean or damaged.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Encoder } from '../common/bytes.js';
import { isTidalError } from '../common/errors.js';
import { decodePayload, encodePayload, type Value } from '../wal/payload.js';
import { ShardState } from './shard-state.js';
import { SESSION, loggedArb } from './testing/logged-events.js';

type Outcome = { refused: string } | { state: string };

const describeError = (error: unknown): string =>
  isTidalError(error) ? `${error.code}: ${error.message}` : `not a TidalError: ${String(error)}`;

/** Everything the state holds, as text: its CRDTs' canonical bytes, the session bridge's, and the counts beside them. */
function shown(state: ShardState): string {
  const idempotency = new Encoder(256);
  state.idempotency.writeTo(idempotency);
  return JSON.stringify({
    crdt: Array.from(state.crdt.encode()),
    idempotency: Array.from(idempotency.toBytes()),
    appliedLsn: state.appliedLsn,
    lastLocalLsn: state.lastLocalLsn,
    refusedOps: state.refusedOps,
    syncCursors: [...state.syncCursors],
  });
}

/** Applies the batch at LSN 1 after preparing all of it with `prepare`; the state, or why the batch was refused. */
function applied(bytes: Uint8Array, count: number, prepare: (state: ShardState) => ((lsn: number) => void)[]): Outcome {
  const state = new ShardState();
  let prepared: ((lsn: number) => void)[];
  try {
    prepared = prepare(state);
  } catch (error) {
    return { refused: describeError(error) };
  }
  expect(prepared).toHaveLength(count);
  prepared.forEach((apply, i) => apply(1 + i));
  return { state: shown(state) };
}

const batched = (bytes: Uint8Array, count: number) => applied(bytes, count, (state) => state.prepareBatch(bytes, count));

const eventByEvent = (bytes: Uint8Array, count: number) =>
  applied(bytes, count, (state) => {
    const events = decodePayload(bytes, count);
    for (const event of events) state.checkVersion(event);
    return events.map((event) => state.prepare(event));
  });

describe('ShardState.prepareBatch (a verified batch read straight into what applies it)', () => {
  it('builds the state that preparing event by event builds, for every form of event a log holds', () => {
    fc.assert(
      fc.property(fc.array(loggedArb, { minLength: 1, maxLength: 6 }), (logged) => {
        const bytes = encodePayload(logged);
        const outcome = batched(bytes, logged.length);
        expect(outcome).toEqual(eventByEvent(bytes, logged.length));
        expect('state' in outcome).toBe(true);
      }),
      { seed: 21, numRuns: 300 },
    );
  });

  it('refuses damaged bytes with the code and message the event-by-event reading gives', () => {
    let refusals = 0;
    fc.assert(
      fc.property(
        fc.array(loggedArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
        (logged, edits) => {
          const bytes = encodePayload(logged);
          for (const [where, byte] of edits) bytes[1 + (where % (bytes.length - 1))] = byte;
          const outcome = batched(bytes, logged.length);
          expect(outcome).toEqual(eventByEvent(bytes, logged.length));
          if ('refused' in outcome) refusals++;
        },
      ),
      { seed: 2121, numRuns: 1000 },
    );
    // Most damage must be refused, or the comparison above says little.
    expect(refusals).toBeGreaterThan(500);
  });

  it('finds a newer format anywhere in the batch first (version skew), even after an event that does not read', () => {
    const write = { t: 'write', session: SESSION, startedAt: 1, seq: 1, acked: 0, at: 0, ops: [] } as unknown as Record<string, Value>;
    const malformed = { ...write, session: 'not a session' };
    const newer = { ...write, seq: 2, acked: 1, v: 3 };
    const bytes = encodePayload([write, malformed, newer]);
    const state = new ShardState();
    expect(() => state.prepareBatch(bytes, 3)).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
    // Without the newer event, the malformed one is what is refused.
    expect(() => state.prepareBatch(encodePayload([write, malformed]), 2)).toThrow(expect.objectContaining({ code: 'MalformedPayload' }));
    expect(state.appliedLsn).toBe(0);
  });
});
