/**
 * How a shard's leader turns an admitted `WriteRequest` into its WAL
 * event: the operations stamped with consecutive HLCs of the leader's
 * clock and its replica id, with the (session, SeqNo) and key that guard
 * them; and the event's logged form, which holds the writer's operations
 * block as it came (encoded here only for a request that did not come in
 * a frame).
 *
 *     const { event, logged } = stampWrite(request, { replica, hlc, at: clock.now() });
 *     await wal.append([logged]);  // then state.applyEvent(lsn, event)
 */
import type { HLC, HlcTimestamp } from '../crdt/hlc.js';
import type { CrdtOperation } from '../crdt/operation.js';
import type { Value } from '../wal/payload.js';
import { EMPTY_OPS_BLOCK_V3, encodeOpsBlockV3 } from './ops-block-v3.js';
import { writeEventWithBlock } from './write-event-codec.js';
import type { WriteEvent, WriteRequest } from './write.js';

/** Who stamps a write, and when. */
export interface Stamper {
  /** The leader's replica id. */
  readonly replica: string;
  /** The leader's clock: the write's operations take `ops.length` consecutive stamps of it. */
  readonly hlc: HLC;
  /** Wall-clock milliseconds of the admission (the event's `at`). */
  readonly at: number;
}

/** The WAL event of an admitted request (as applied) and its logged form (as appended). */
export function stampWrite(request: WriteRequest, { replica, hlc, at }: Stamper): { event: WriteEvent; logged: Value } {
  const count = request.ops.length;
  const first = count > 0 ? hlc.reserve(count) : hlc.last;
  let stamp = first - 1n; // counted up: a BigInt per operation (`first + BigInt(i)` made two)
  let ops: CrdtOperation[];
  if (request.stampableBy === replica) {
    // Decoded for this leader in the stamped shape: the HLCs are filled in, no copy is made.
    ops = request.ops as CrdtOperation[];
    for (let i = 0; i < count; i++) {
      stamp += 1n;
      (ops[i] as { hlc: HlcTimestamp }).hlc = stamp;
    }
  } else ops = copyStamped(request.ops, replica, stamp);
  const fields = {
    t: 'write' as const,
    session: request.session,
    startedAt: request.startedAt,
    seq: request.seq,
    acked: request.acked,
    at,
    ...(request.idempotencyKey !== undefined ? { key: request.idempotencyKey } : {}),
  };
  const block = request.block ?? (count === 0 ? EMPTY_OPS_BLOCK_V3 : encodeOpsBlockV3(request.ops));
  return { event: { ...fields, ops }, logged: writeEventWithBlock(fields, replica, first, block) };
}

/** Stamped copies of `ops` (a request the caller still holds): HLCs from `before + 1` on. */
function copyStamped(given: WriteRequest['ops'], replica: string, before: HlcTimestamp): CrdtOperation[] {
  const ops: CrdtOperation[] = new Array(given.length);
  let stamp = before;
  for (let i = 0; i < given.length; i++) {
    const op = given[i]!;
    stamp += 1n;
    ops[i] =
      op.op === 'set'
        ? { op: 'set', key: op.key, field: op.field, value: op.value, replica, hlc: stamp }
        : op.op === 'add'
          ? { op: 'add', key: op.key, set: op.set, member: op.member, replica, hlc: stamp }
          : { op: op.op, key: op.key, kind: op.kind, by: op.by, replica, hlc: stamp };
  }
  return ops;
}

/** `request` as the empty write that only takes its SeqNo (its key stays with the write that carried it first). */
export function withoutEffect(request: WriteRequest): WriteRequest {
  const { idempotencyKey: _key, block: _block, stampableBy: _stampable, ...rest } = request;
  return { ...rest, ops: [] };
}
