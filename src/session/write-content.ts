/**
 * What a `SessionWriter` keeps of a write it has numbered: its operations
 * as their version-3 block (encoded once; every resend carries it as it
 * is), their count, and the operations themselves when the writer was
 * given them as objects. A write encoded by its caller (`db.transact`'s
 * `OpsBlockV3Builder`) has none: its request decodes them from the block
 * only if something asks (a write frame never does; it sends the block).
 *
 *     const content = listed(ops);                       // or { block, count }
 *     const request = requestOf({ session, startedAt, seq, acked }, content);
 */
import { EMPTY_OPS_BLOCK_V3, decodeOpsBlockV3, encodeOpsBlockV3 } from './ops-block-v3.js';
import type { ClientOperation, WriteRequest } from './write.js';

/** A write's operations: their block, their count, and the operations themselves when the writer was given them. */
export interface WriteContent {
  readonly block: Uint8Array;
  readonly count: number;
  readonly ops?: readonly ClientOperation[];
}

/** The content of a list of operations: encoded once per write (every resend carries the block as it is). */
export function listed(ops: readonly ClientOperation[]): WriteContent {
  return { block: ops.length === 0 ? EMPTY_OPS_BLOCK_V3 : encodeOpsBlockV3(ops), count: ops.length, ops };
}

/** What a request says besides its operations. */
export type RequestFields = Omit<WriteRequest, 'ops' | 'block'>;

export function fieldsOf(request: WriteRequest): RequestFields {
  const { session, startedAt, seq, acked, idempotencyKey } = request;
  return { session, startedAt, seq, acked, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
}

/**
 * The request of `fields` and `content`. Without the operations at hand (an encoded write), its
 * `ops` are decoded from the block when first asked for: a write frame never asks (it sends the block).
 */
export function requestOf(fields: RequestFields, content: WriteContent): WriteRequest {
  if (content.ops) return { ...fields, ops: content.ops, block: content.block };
  const block = content.block;
  let ops: readonly ClientOperation[] | undefined;
  return {
    ...fields,
    block,
    get ops(): readonly ClientOperation[] {
      return (ops ??= decodeOpsBlockV3(block));
    },
  };
}
