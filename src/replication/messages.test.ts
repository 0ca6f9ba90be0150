import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTidalError } from '../common/errors.js';
import { MAX_LSN } from '../wal/format.js';
import { decodeControl, encodeControl, type ControlMessageBody } from './messages.js';

// Hostile bytes on the control lane: whatever a peer sends, decodeControl either returns a
// well-formed message (every field in range, nothing left unread) or throws a TidalError with
// code MalformedMessage; never another exception, never a half-decoded message.

const REASONS = ['hello', 'rejected', 'gap', 'stalled'] as const;
const shard = fc.integer({ min: 0, max: 0xffff });
const lsn = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(MAX_LSN), fc.maxSafeNat());

const validMessage: fc.Arbitrary<ControlMessageBody> = fc.oneof(
  fc.record({ type: fc.constant('ack' as const), shard, appliedLsn: lsn }),
  fc.record({ type: fc.constant('request' as const), shard, fromLsn: lsn.map((n) => Math.max(n, 1)), reason: fc.constantFrom(...REASONS) }),
  fc.record({ type: fc.constant('status' as const), shard, lastLsn: lsn }),
);

/** Checks everything a caller relies on, independently of the decoder. */
function expectWellFormed(m: ControlMessageBody): void {
  const inRange = (n: number, min: number) => Number.isSafeInteger(n) && n >= min && n <= MAX_LSN;
  expect(Number.isInteger(m.shard) && m.shard >= 0 && m.shard <= 0xffff).toBe(true);
  switch (m.type) {
    case 'ack':
      expect(Object.keys(m).sort()).toEqual(['appliedLsn', 'shard', 'type']);
      expect(inRange(m.appliedLsn, 0)).toBe(true);
      break;
    case 'request':
      expect(Object.keys(m).sort()).toEqual(['fromLsn', 'reason', 'shard', 'type']);
      expect(inRange(m.fromLsn, 1)).toBe(true);
      expect(REASONS).toContain(m.reason);
      break;
    case 'status':
      expect(Object.keys(m).sort()).toEqual(['lastLsn', 'shard', 'type']);
      expect(inRange(m.lastLsn, 0)).toBe(true);
      break;
    default:
      throw new Error(`decoded an unknown message type: ${JSON.stringify(m)}`);
  }
  // What was decoded is what the message means: it re-encodes to bytes that decode to it again.
  expect(decodeControl(encodeControl(m))).toEqual(m);
}

/** Decodes `bytes`: the message if well-formed, `'refused'` if refused with MalformedMessage; anything else fails the test. */
function decodeOrRefuse(bytes: Uint8Array): ControlMessageBody | 'refused' {
  let message: ControlMessageBody;
  try {
    message = decodeControl(bytes);
  } catch (error) {
    if (!isTidalError(error, 'MalformedMessage')) throw error;
    expect(error.message.length).toBeGreaterThan('MalformedMessage: '.length); // says what was wrong
    return 'refused';
  }
  expectWellFormed(message);
  return message;
}

describe('control messages under hostile bytes', () => {
  it('decodes every valid message to itself, byte for byte', () => {
    fc.assert(
      fc.property(validMessage, (m) => {
        const bytes = encodeControl(m);
        expect(decodeOrRefuse(bytes)).toEqual(m);
        expect(encodeControl(decodeControl(bytes))).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes are decoded well-formed or refused with MalformedMessage', () => {
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 32 }),
      // Mostly-plausible headers, so the fuzz reaches past the version and type bytes.
      fc
        .tuple(fc.constantFrom(0, 1, 2, 255), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 16 }))
        .map(([v, t, rest]) => new Uint8Array([v, t, ...rest])),
    );
    fc.assert(
      fc.property(anyBytes, (bytes) => void decodeOrRefuse(bytes)),
      { numRuns: 4000 },
    );
  });

  it('refuses every truncation of a valid message', () => {
    fc.assert(
      fc.property(validMessage, (m) => {
        const bytes = encodeControl(m);
        for (let n = 0; n < bytes.length; n++) expect(decodeOrRefuse(bytes.subarray(0, n))).toBe('refused');
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a valid message with anything appended, and an oversized one', () => {
    fc.assert(
      fc.property(validMessage, fc.uint8Array({ minLength: 1, maxLength: 64 }), (m, tail) => {
        const bytes = encodeControl(m);
        expect(decodeOrRefuse(new Uint8Array([...bytes, ...tail]))).toBe('refused');
      }),
      { numRuns: 500 },
    );
    const huge = new Uint8Array(1 << 20).fill(0xff);
    huge.set([1, 1, 0, 0]);
    expect(decodeOrRefuse(huge)).toBe('refused'); // an endless VarUint: refused past 8 bytes, not read to the end
    expect(decodeOrRefuse(new Uint8Array(1 << 20))).toBe('refused'); // version 0
  });

  it('a mutated valid message is decoded well-formed or refused', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(validMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, mutations) => {
        const bytes = [...encodeControl(m)];
        for (const mu of mutations) {
          const at = mu.at % (bytes.length + 1);
          if (mu.kind === 'set' && at < bytes.length) bytes[at] = mu.value;
          else if (mu.kind === 'flip' && at < bytes.length) bytes[at] = bytes[at]! ^ (1 << mu.bit);
          else if (mu.kind === 'delete') bytes.splice(at, 1);
          else if (mu.kind === 'insert') bytes.splice(at, 0, mu.value);
        }
        decodeOrRefuse(new Uint8Array(bytes));
      }),
      { numRuns: 4000 },
    );
  });

  it('refuses LSNs out of range and unknown types, versions and reasons', () => {
    const refused = (bytes: number[]) => expect(decodeOrRefuse(new Uint8Array(bytes))).toBe('refused');
    refused([1, 2, 0, 7, 0, 0]); // request from LSN 0
    refused([1, 2, 0, 7, 5, 4]); // reason 4
    refused([1, 4, 0, 7, 5]); // type 4
    refused([2, 1, 0, 7, 5]); // version 2
    refused([1, 1, 0, 7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]); // 2^53: past MAX_LSN
  });
});
