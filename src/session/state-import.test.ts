/**
 * The state import event (docs/FORMAT.md "Log events", docs/SYNC.md §9):
 * its bytes in a WAL payload, pinned; read back with its state decoded;
 * refused with a code when any field is wrong, as a newer format when its
 * state is of a newer encoding.
 */
import { describe, expect, it } from 'vitest';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { decodePayload, encodePayload, type Value } from '../wal/payload.js';
import { stateImportPayloadPrefix } from './state-import-batch.js';
import { asLogEvent, assertLogEventVersion, loggedStateImport, type StateImportEvent } from './write.js';

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const DEVICE = 'fedcba9876543210fedcba9876543210';

function smallState(): CrdtSignalState {
  const state = new CrdtSignalState();
  state.apply({ op: 'increment', key: 'k', kind: 'n', by: 2, replica: 'r.0' });
  state.apply({ op: 'set', key: 'k', field: 'f', value: 'v', hlc: 1n << 16n, replica: 'r.0' });
  return state;
}

describe('state import event', () => {
  it('has these bytes in a payload, and reads back with its state decoded', () => {
    const bytes = smallState().encode();
    const payload = encodePayload([loggedStateImport(DEVICE, 3, 5, bytes)]);
    expect(toHex(payload)).toBe(
      [
        '01', // payload version
        '0b05', // an object of 5 entries (names are length-prefixed, values tagged)
        '0174',
        '080c696d706f72742d7374617465', // t: 'import-state'
        '06646576696365',
        '0820' + toHex(new TextEncoder().encode(DEVICE)), // device
        '047570546f',
        '83', // upTo: 3 (a small integer)
        '026174',
        '85', // at: 5
        '057374617465',
        '0925', // state: bytes, 37 of them, the state's encoding as it is (CrdtSignalState.encode)
        toHex(bytes),
      ].join(''),
    );
    const [value] = decodePayload(payload, 1);
    const event = asLogEvent(value!) as StateImportEvent;
    expect(event).toMatchObject({ t: 'import-state', device: DEVICE, upTo: 3, at: 5 });
    expect(event.state.encode()).toEqual(bytes);
  });

  it('has a payload head that, followed by the state, is its payload byte for byte, whatever the lengths of the state and cursor', () => {
    for (const length of [0, 1, 127, 128, 16_383, 16_384, 2_097_152]) {
      const state = new Uint8Array(length).map((_, i) => i * 7);
      for (const [upTo, at] of [
        [3, 5],
        [2 ** 40, 1_733_000_000_123.5],
      ] as const) {
        const head = stateImportPayloadPrefix(DEVICE, upTo, at, length);
        const whole = new Uint8Array(head.length + length);
        whole.set(head);
        whole.set(state, head.length);
        const payload = encodePayload([loggedStateImport(DEVICE, upTo, at, state)]);
        expect(toHex(head)).toBe(toHex(payload.subarray(0, head.length)));
        expect(Buffer.compare(whole, payload)).toBe(0); // and the rest is the state, to the payload's end
      }
    }
  });

  it('is refused MalformedPayload for a bad device, cursor, time or state, UnsupportedVersion for a newer state encoding', () => {
    const state = smallState().encode();
    const bad: [string, Value][] = [
      ['device', loggedStateImport('not-a-device', 3, 5, state)],
      ['cursor 0', loggedStateImport(DEVICE, 0, 5, state)],
      ['negative time', loggedStateImport(DEVICE, 3, -1, state)],
      ['state not bytes', { ...(loggedStateImport(DEVICE, 3, 5, state) as Record<string, Value>), state: 'TDCS' }],
      ['state cut short', loggedStateImport(DEVICE, 3, 5, state.subarray(0, state.length - 1))],
      ['state with a bad magic', loggedStateImport(DEVICE, 3, 5, Uint8Array.of(0, ...state.subarray(1)))],
    ];
    for (const [what, event] of bad) {
      expect(() => assertLogEventVersion(event), what).not.toThrow();
      expect(() => asLogEvent(event), what).toThrow(expect.objectContaining({ code: 'MalformedPayload' }));
    }
    const newer = state.slice();
    newer[4] = 9; // the state's version, after its magic
    expect(() => assertLogEventVersion(loggedStateImport(DEVICE, 3, 5, newer))).toThrow(
      expect.objectContaining({ code: 'UnsupportedVersion' }),
    );
    expect(() => asLogEvent(loggedStateImport(DEVICE, 3, 5, newer))).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
  });
});
