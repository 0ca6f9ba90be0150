/**
 * `db.transact`: the operations a build function adds, checked as they are
 * added and encoded at once, with no operation object in between, into one
 * operations block per shard (`OpsBlockV3Builder`); a shard's part is split
 * into writes that each fit one WAL event (at most `MAX_OPS_PER_WRITE`
 * operations and `MAX_WRITE_BYTES` bytes, both bounded *before* a write is
 * numbered, so that no numbered write is refused for its size); and the one
 * promise of the transaction, settled from its writes' outcomes.
 *
 *     const { parts } = collectTransaction(build, (key) => router.route(key), shards);
 *     // parts[shard] = the writes of that shard's part: { block, count } each
 *     return settleTransaction(writes, operations);
 */
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { OpsBlockV3Builder } from '../session/ops-block-builder.js';
import { MAX_OPS_PER_WRITE, MAX_WRITE_BYTES, validateCounterArgs, validateValueArgs, type WriteToken } from '../session/write.js';
import type { Value } from '../wal/payload.js';
import type { TidalTransaction, TransactResult } from './api.js';

/** One write of a shard's part: its operations as their version-3 block, and how many there are. */
export interface EncodedWrite {
  readonly block: Uint8Array;
  readonly count: number;
}

/**
 * Runs `build` with a transaction that encodes its operations into the
 * part of the shard each key routes to; returns, per shard, the writes of
 * its part (none for a shard it did not touch) and the number of
 * operations. Throws what `build` throws, or the first invalid operation's
 * error: then nothing is sent.
 */
export function collectTransaction(
  build: (tx: TidalTransaction) => void,
  route: (key: string) => ShardId,
  shards: number,
): { parts: EncodedWrite[][]; operations: number } {
  /** Per shard: the write still filling, and those full. */
  const filling: (OpsBlockV3Builder | undefined)[] = new Array<OpsBlockV3Builder | undefined>(shards).fill(undefined);
  const full: EncodedWrite[][] = Array.from({ length: shards }, () => []);
  let operations = 0;
  let open = true;
  /** The builder of `key`'s shard with room for an operation of `bytes` (a new write past the bounds). */
  const builderFor = (key: string, bytes: number): OpsBlockV3Builder => {
    const shard = route(key);
    let builder = filling[shard];
    if (!builder || builder.count >= MAX_OPS_PER_WRITE || builder.bytes + bytes > MAX_WRITE_BYTES) {
      if (builder) full[shard]!.push({ block: builder.finishView(), count: builder.count });
      builder = filling[shard] = new OpsBlockV3Builder();
    }
    builder.bytes += bytes;
    return builder;
  };
  const closed = () => new TidalError('InvalidArgument', 'a transaction takes operations only while its build function runs');
  const counter = (op: 'increment' | 'decrement', key: string, kind: string, by: number) => {
    if (!open) throw closed();
    builderFor(key, validateCounterArgs(key, kind, by)).counter(op, key, kind, by);
    operations++;
  };
  const valued = (op: 'set' | 'add', key: string, name: string, value: Value) => {
    if (!open) throw closed();
    const builder = builderFor(key, validateValueArgs(op, key, name, value, `operation ${operations}`));
    if (op === 'set') builder.set(key, name, value);
    else builder.add(key, name, value);
    operations++;
  };
  const tx: TidalTransaction = {
    increment: (key, kind, by = 1) => counter('increment', key, kind, by),
    decrement: (key, kind, by = 1) => counter('decrement', key, kind, by),
    set: (key, field, value) => valued('set', key, field, value),
    add: (key, set, member) => valued('add', key, set, member),
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
  filling.forEach((builder, shard) => {
    if (builder && builder.count > 0) full[shard]!.push({ block: builder.finishView(), count: builder.count });
  });
  return { parts: full, operations };
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
