/**
 * Write submission on the main thread: `db.increment`/`set`/`add` and
 * `db.transact` check their operations here (`InvalidArgument`,
 * `Unencodable` at once, nothing sent), route each key to its shard and
 * hand the writes to that shard's `SessionWriter`, which sends them
 * (through its `TickBatcher`) exactly once, resent across restarts and
 * failover. Writes in flight are tracked for `db.flush()`.
 */
import { TidalError } from '../common/errors.js';
import type { ShardRouter } from '../shard/router.js';
import type { ShardId } from '../shard/shard-id.js';
import { assertIdempotencyKey, validateBuiltOperation, type ClientOperation, type WriteToken } from '../session/write.js';
import type { TidalTransaction, TransactResult, WriteOptions } from './api.js';
import type { ShardSlot } from './shard-slot.js';
import { collectTransaction, settleTransaction } from './transaction.js';

/** Submits a tab's writes to its shards' session writers. */
export class WriteSubmission {
  private readonly slots: readonly ShardSlot[];
  private readonly router: ShardRouter;
  /** Why the database takes no writes now (closed, or stepped aside), if it does not. */
  private readonly refusal: () => TidalError | undefined;
  /** Transactions not yet settled (one promise each; single writes are counted by the session writers). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: { slots: readonly ShardSlot[]; router: ShardRouter; refusal: () => TidalError | undefined }) {
    this.slots = options.slots;
    this.router = options.router;
    this.refusal = options.refusal;
  }

  /** One operation on one key: checked, routed, written. */
  write(op: ClientOperation, options: WriteOptions | undefined): Promise<WriteToken> {
    // A tab that stepped aside (VersionSkew) closed its session writers with that error: they refuse.
    const refused = this.refusal();
    if (refused?.code === 'Closed') return Promise.reject(refused);
    if (typeof op.key !== 'string') return Promise.reject(new TidalError('InvalidArgument', 'key must be a string'));
    const slot = this.slots[this.router.route(op.key)]!;
    const idempotencyKey = options?.idempotencyKey;
    let bytes: number;
    try {
      bytes = validateBuiltOperation(op, 'ops[0]');
      if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey);
    } catch (error) {
      return Promise.reject(error);
    }
    // Not tracked here: `flush` asks the session writers, which count their writes' settling (a hook per write's promise cost ~1.5 µs a write).
    return slot.writer.writeOne(op, bytes, idempotencyKey);
  }

  /** `db.transact`: the transaction's operations, one write per shard they touch (or more, past a write's bound). */
  transact(build: (tx: TidalTransaction) => void, options: WriteOptions | undefined): Promise<TransactResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (typeof build !== 'function') return Promise.reject(new TidalError('InvalidArgument', 'transact(build: (tx) => void)'));
    let collected: ReturnType<typeof collectTransaction>;
    try {
      // Checked here, as a single write's is: a frame would carry a lone surrogate as U+FFFD, another key.
      if (options?.idempotencyKey !== undefined) assertIdempotencyKey(options.idempotencyKey);
      collected = collectTransaction(build, (key) => this.router.route(key), this.slots.length);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = options?.idempotencyKey;
    const writes: { shard: ShardId; written: Promise<WriteToken> }[] = [];
    collected.parts.forEach((chunks, shard) => {
      const writer = this.slots[shard]!.writer;
      chunks.forEach(({ block, count }, i) => {
        // A key guards one write per shard: a second write of the part gets a derived key of its own.
        const writeOptions = key === undefined ? {} : { idempotencyKey: i === 0 ? key : `${key}#${i}` };
        writes.push({ shard, written: writer.writeEncoded(block, count, writeOptions) });
      });
    });
    return this.track(settleTransaction(writes, collected.operations));
  }

  /** Resolves once every write submitted so far has settled (acknowledged or refused). */
  async flush(): Promise<void> {
    await Promise.all([Promise.allSettled([...this.inFlight]), ...this.slots.map((slot) => slot.writer.settled())]);
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const done = () => this.inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  }
}
