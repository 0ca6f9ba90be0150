import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTidalError } from '../common/errors.js';
import { decodePayload, encodePayload, type Value } from '../wal/payload.js';
import { readLogEvents } from './log-event-read.js';
import { encodeOpsBlockV3 } from './ops-block-v3.js';
import { BASE, SESSION, loggedArb } from './testing/logged-events.js';
import { asLogEvent, type ClientOperation, type LogEvent, type WriteEvent } from './write.js';
import { writeEventWithBlock } from './write-event-codec.js';

type Outcome = { thrown: string } | { events: LogEvent[]; refused?: string };

const describeError = (error: unknown): string =>
  isTidalError(error) ? `${error.code}: ${error.message}` : `not a TidalError: ${String(error)}`;

/** What a replay did before: the payload decoded whole, then each event from `from` read by `asLogEvent` until one is refused. */
function generalPath(bytes: Uint8Array, count: number, from: number): Outcome {
  let values: Value[];
  try {
    values = decodePayload(bytes, count);
  } catch (error) {
    return { thrown: describeError(error) };
  }
  const events: LogEvent[] = [];
  for (let i = from; i < values.length; i++) {
    try {
      events.push(asLogEvent(values[i]!));
    } catch (error) {
      return { events, refused: describeError(error) };
    }
  }
  return { events };
}

const shown = (outcome: Outcome): string => JSON.stringify(outcome, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

function directPath(bytes: Uint8Array, count: number, from: number): Outcome {
  try {
    const read = readLogEvents(bytes, count, from);
    return read.refused === undefined ? { events: read.events } : { events: read.events, refused: describeError(read.refused) };
  } catch (error) {
    return { thrown: describeError(error) };
  }
}

describe('readLogEvents (a payload straight into log events)', () => {
  it('reads what decodePayload then asLogEvent read, for every form of event a log holds', () => {
    fc.assert(
      fc.property(fc.array(loggedArb, { minLength: 1, maxLength: 6 }), fc.nat(6), (logged, skip) => {
        const bytes = encodePayload(logged);
        const from = Math.min(skip, logged.length);
        const direct = directPath(bytes, logged.length, from);
        expect(direct).toEqual(generalPath(bytes, logged.length, from));
        expect('events' in direct && direct.refused === undefined && direct.events.length).toBe(logged.length - from);
      }),
      { seed: 13, numRuns: 400 },
    );
  });

  it('refuses the same damaged bytes with the same code and message, after the same events', () => {
    const damageArb = fc.tuple(
      fc.array(loggedArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
      fc.constantFrom('overwrite', 'truncate', 'insert'),
      fc.nat(3),
    );
    let refusals = 0;
    fc.assert(
      fc.property(damageArb, ([logged, edits, how, skip]) => {
        const clean = encodePayload(logged);
        let bytes = clean.slice();
        for (const [where, byte] of edits) {
          const at = 1 + (where % (bytes.length - 1 || 1));
          if (how === 'overwrite') bytes[at] = byte;
          else if (how === 'truncate') bytes = bytes.slice(0, at);
          else bytes = Uint8Array.from([...bytes.subarray(0, at), byte, ...bytes.subarray(at)]);
        }
        const from = Math.min(skip, logged.length);
        const direct = directPath(bytes, logged.length, from);
        expect(direct).toEqual(generalPath(bytes, logged.length, from));
        if ('thrown' in direct || direct.refused !== undefined) refusals++;
      }),
      { seed: 1313, numRuns: 1500 },
    );
    // The damage must mostly be refused, or the comparison above says little.
    expect(refusals).toBeGreaterThan(1000);
  });

  it('agrees with the general path on every single byte of a logged write replaced by every other byte', () => {
    const ops: ClientOperation[] = [
      { op: 'increment', key: 'item-12', kind: 'click', by: 1 },
      { op: 'set', key: 'item-1', field: 'label', value: 'cats' },
      { op: 'add', key: 'item-12', set: 'tags', member: 300 },
    ];
    const head = { t: 'write' as const, session: SESSION, startedAt: 1, seq: 1, acked: 0, at: 0, key: 'k' };
    const bytes = encodePayload([writeEventWithBlock(head, 'tab-1.0', BASE, encodeOpsBlockV3(ops))]);
    let refused = 0;
    for (let at = 1; at < bytes.length; at++) {
      for (let byte = 0; byte < 256; byte++) {
        if (byte === bytes[at]) continue;
        const damaged = bytes.slice();
        damaged[at] = byte;
        const direct = directPath(damaged, 1, 0);
        const general = generalPath(damaged, 1, 0);
        // Compared as text first: toEqual on every one of the 30k cases is slow.
        if (shown(direct) !== shown(general)) expect({ at, byte, direct }).toEqual({ at, byte, direct: general });
        if ('thrown' in direct || direct.refused !== undefined) refused++;
      }
    }
    expect(refused).toBeGreaterThan(bytes.length * 100);
  });

  it('refuses a write event of a newer version as asLogEvent does, after the events before it', () => {
    const good = writeEventWithBlock(
      { t: 'write', session: SESSION, startedAt: 1, seq: 2, acked: 1, at: 3 },
      'r',
      BASE,
      encodeOpsBlockV3([]),
    );
    const newer = { ...(good as Record<string, Value>), v: 3 };
    const read = readLogEvents(encodePayload([good, newer, good]), 3);
    expect(read.events).toEqual([{ t: 'write', session: SESSION, startedAt: 1, seq: 2, acked: 1, at: 3, ops: [] }]);
    expect(isTidalError(read.refused, 'UnsupportedVersion')).toBe(true);
  });

  it('holds nothing of the payload buffer in the events it reads', () => {
    const logged = writeEventWithBlock(
      { t: 'write', session: SESSION, startedAt: 1, seq: 2, acked: 1, at: 3 },
      'r',
      BASE,
      encodeOpsBlockV3([{ op: 'add', key: 'item-1', set: 'tags', member: new Uint8Array([7, 8]) }]),
    );
    const bytes = encodePayload([logged]);
    const { events } = readLogEvents(bytes, 1);
    bytes.fill(0);
    expect((events[0] as WriteEvent).ops[0]).toEqual({
      op: 'add',
      key: 'item-1',
      set: 'tags',
      member: new Uint8Array([7, 8]),
      replica: 'r',
      hlc: BASE,
    });
  });
});
