/**
 * `db.transact`: the operations a build function adds, checked as they are
 * added and split per shard into writes that each fit one WAL event
 * (at most `MAX_OPS_PER_WRITE` operations and `MAX_WRITE_BYTES` bytes, both
 * bounded *before* a write is numbered, so that no numbered write is
 * refused for its size); and the one promise of the transaction, settled
 * from its writes' outcomes.
 *
 *     const parts = collectTransaction(build, (key) => router.route(key), shards);
 *     // parts[shard] = the writes of that shard's part: { ops, bytes } each
 *     return settleTransaction(writes, operations);
 */
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { MAX_OPS_PER_WRITE, MAX_WRITE_BYTES, validateBuiltOperation, type ClientOperation, type WriteToken } from '../session/write.js';
import type { TidalTransaction, TransactResult } from './api.js';

/** One shard's part of a transaction: its writes, the last one still filling. */
interface ShardPart {
  /** Each with a bound on its bytes (what `validateBuiltOperation` says of its operations). */
  readonly writes: { ops: ClientOperation[]; bytes: number }[];
}

/**
 * Runs `build` with a transaction that adds its operations to the shard
 * each key routes to; returns, per shard, the writes of its part (none for
 * a shard it did not touch) and the number of operations. Throws what
 * `build` throws, or the first invalid operation's error: then nothing is
 * sent.
 */
export function collectTransaction(
  build: (tx: TidalTransaction) => void,
  route: (key: string) => ShardId,
  shards: number,
): { parts: { ops: ClientOperation[]; bytes: number }[][]; operations: number } {
  const parts: ShardPart[] = Array.from({ length: shards }, () => ({ writes: [] }));
  let operations = 0;
  let open = true;
  const add = (op: ClientOperation) => {
    if (!open) throw new TidalError('InvalidArgument', 'a transaction takes operations only while its build function runs');
    const bytes = validateBuiltOperation(op, `operation ${operations}`);
    const part = parts[route(op.key)]!;
    let write = part.writes[part.writes.length - 1];
    if (!write || write.ops.length >= MAX_OPS_PER_WRITE || write.bytes + bytes > MAX_WRITE_BYTES) {
      write = { ops: [], bytes: 0 };
      part.writes.push(write);
    }
    write.ops.push(op);
    write.bytes += bytes;
    operations++;
  };
  const tx: TidalTransaction = {
    increment: (key, kind, by = 1) => add({ op: 'increment', key, kind, by }),
    decrement: (key, kind, by = 1) => add({ op: 'decrement', key, kind, by }),
    set: (key, field, value) => add({ op: 'set', key, field, value }),
    add: (key, set, member) => add({ op: 'add', key, set, member }),
  };
  try {
    const returned: unknown = build(tx);
    if (returned instanceof Promise) {
      returned.catch(() => undefined);
      throw new TidalError('InvalidArgument', 'transact: build must add its operations synchronously (it returned a promise)');
    }
  } finally {
    open = false;
  }
  return { parts: parts.map((p) => p.writes), operations };
}

/**
 * The transaction's outcome from its writes': every shard's token (its
 * last write's), or the first failure, with the tokens of the parts that
 * did commit in `details.committed`.
 */
export async function settleTransaction(
  writes: readonly { shard: ShardId; written: Promise<WriteToken> }[],
  operations: number,
): Promise<TransactResult> {
  const settled = await Promise.allSettled(writes.map((w) => w.written));
  const committed = new Map<ShardId, WriteToken>();
  let failure: unknown;
  settled.forEach((result, i) => {
    if (result.status === 'rejected') failure ??= result.reason;
    else {
      const shard = writes[i]!.shard;
      const seen = committed.get(shard);
      if (!seen || seen.lsn < result.value.lsn) committed.set(shard, result.value);
    }
  });
  const tokens = [...committed.values()].sort((a, b) => a.shard - b.shard);
  if (failure !== undefined) {
    const code = isTidalError(failure) ? failure.code : 'StorageError';
    const message = failure instanceof Error ? failure.message : String(failure);
    throw new TidalError(code, `transact: a shard's part was not written (${message}); parts committed: ${tokens.length}`, {
      cause: failure,
      details: { committed: tokens },
    });
  }
  return { tokens, operations };
}
