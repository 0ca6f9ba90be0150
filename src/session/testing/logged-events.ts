/**
 * Test support (not part of the package): logged events in every form a
 * shard's log holds (a version-2 write with a writer's version-3 block or
 * a version-2 block, a version-1 write, an import, a state import), as fast-check
 * arbitraries, for the tests that compare the direct reading of a payload
 * with the general one.
 *
 *     fc.property(fc.array(loggedArb, { maxLength: 6 }), (logged) => { const bytes = encodePayload(logged); ... });
 */
import fc from 'fast-check';
import type { CrdtOperation } from '../../crdt/operation.js';
import { operationArb } from '../../crdt/testing/arbitraries.js';
import type { Value } from '../../wal/payload.js';
import { encodeOpsBlockV3 } from '../ops-block-v3.js';
import { encodeWriteEvent, writeEventWithBlock } from '../write-event-codec.js';
import { loggedStateImport, type ClientOperation } from '../write.js';
import { CrdtSignalState } from '../../crdt/signal-state.js';

export const SESSION = '0123456789abcdef0123456789abcdef';
const DEVICE = 'fedcba9876543210fedcba9876543210';
export const BASE = (1_700_000_000_000n << 16n) | 5n;

/** An operation as a writer issues it (no stamps; the events below stamp them). */
const clientOpArb: fc.Arbitrary<ClientOperation> = operationArb.map((op) => {
  const { hlc: _hlc, replica: _replica, ...unstamped } = op as CrdtOperation & { hlc?: bigint };
  return unstamped as ClientOperation;
});

const headArb = fc.record({
  session: fc.constantFrom(SESSION, 'abcdefabcdefabcdefabcdefabcdef01'),
  startedAt: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(1_700_000_000_000)),
  seq: fc.integer({ min: 1, max: 100_000 }),
  at: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(1_700_000_000_123)),
  key: fc.option(fc.constantFrom('order-1', 'ключ'), { nil: undefined }),
  hlc: fc.oneof(fc.constant(BASE), fc.bigInt({ min: 0n, max: 1n << 40n })),
  replica: fc.constantFrom('tab-1a2b.0', 'tab-9.1', 'tab-9.10'),
});

/** A logged event in one of the forms a log holds: v2 with a writer's v3 block, v2 with a v2 block, v1, an import, a state import. */
export const loggedArb: fc.Arbitrary<Value> = fc
  .tuple(headArb, fc.array(clientOpArb, { minLength: 0, maxLength: 8 }), fc.constantFrom('v3', 'v2', 'v1', 'import', 'import-state'))
  .map(([head, ops, form]) => {
    const base = { t: 'write' as const, session: head.session, startedAt: head.startedAt, seq: head.seq, acked: head.seq - 1, at: head.at };
    const withKey = head.key === undefined ? base : { ...base, key: head.key };
    if (form === 'v3') return writeEventWithBlock(withKey, head.replica, head.hlc, encodeOpsBlockV3(ops));
    const stamped = ops.map((op, i) => ({ ...op, replica: head.replica, hlc: head.hlc + BigInt(i) }) as CrdtOperation);
    if (form === 'import') return { t: 'import', device: DEVICE, upTo: head.seq, at: head.at, ops: stamped } as unknown as Value;
    if (form === 'import-state') {
      const state = new CrdtSignalState();
      for (const op of stamped) state.apply(op, { merged: true });
      return loggedStateImport(DEVICE, head.seq, head.at, state.encode());
    }
    const event = { ...withKey, ops: stamped };
    return form === 'v2' ? encodeWriteEvent(event) : (event as unknown as Value);
  });
