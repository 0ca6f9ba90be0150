/**
 * `ShardLeader`: the write side of one shard. It takes a session's
 * `WriteRequest`, checks it against the `IdempotencyStore`, stamps its
 * operations with the leader's HLC, appends it to the WAL (with the
 * (session, SeqNo) and key that guard it), applies it once committed, and
 * answers with a `WriteToken { shard, lsn }`.
 *
 *     const leader = await ShardLeader.open({ wal, replica: 'tab-a/shard-3' });
 *     const token = await leader.write(request); // again with the same request: same token, applied once
 *
 * A duplicate (a retry, a resend after a reconnect or a failover) gets the
 * original token and is not applied again; a write still on its way into
 * the log is waited for, not appended twice. In durable mode a token is
 * given only once the write is flushed.
 */
import { TidalError } from '../common/errors.js';
import { HLC } from '../crdt/hlc.js';
import type { CrdtOperation } from '../crdt/operation.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Value } from '../wal/payload.js';
import type { Wal } from '../wal/wal.js';
import type { IdempotencyStoreOptions } from './idempotency-store.js';
import { ShardState } from './shard-state.js';
import { validateWriteRequest, type WriteEvent, type WriteRequest, type WriteToken } from './write.js';

/** Options of `ShardLeader.open`. */
export interface ShardLeaderOptions extends IdempotencyStoreOptions {
  /** The shard's log, opened (and recovered) by the caller; the leader replays it. */
  readonly wal: Wal;
  /** This leader's replica id (stamps the operations it admits). */
  readonly replica: string;
  /** A state already holding the log's events (a promoted follower's); replayed from the WAL when absent. */
  readonly state?: ShardState;
  /** Wall clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** Admits writes to one shard, exactly once per (session, SeqNo). */
export class ShardLeader {
  readonly shard: ShardId;
  readonly state: ShardState;
  private readonly wal: Wal;
  private readonly replica: string;
  private readonly hlc: HLC;
  private readonly now: () => number;
  /** Writes admitted and not yet committed, by session/SeqNo and by idempotency key. */
  private readonly inFlight = new Map<string, Promise<WriteToken>>();

  private constructor(options: ShardLeaderOptions, state: ShardState) {
    this.wal = options.wal;
    this.shard = options.wal.shard;
    this.replica = options.replica;
    this.now = options.now ?? Date.now;
    // Never stamp behind what the log already holds, whatever the wall clock says now.
    let initial = 0n;
    for (const [, entity] of state.crdt.entityEntries()) if (entity.maxHlc() > initial) initial = entity.maxHlc();
    this.hlc = new HLC({ now: this.now, initial });
    this.state = state;
  }

  /** Takes over a shard's log: replays it (unless given a state that holds it) and starts admitting writes. */
  static async open(options: ShardLeaderOptions): Promise<ShardLeader> {
    let state = options.state;
    if (!state) {
      state = new ShardState(options);
      for await (const { lsn, event } of options.wal.read(1)) state.apply(lsn, event);
    }
    if (state.appliedLsn !== options.wal.lastLsn) {
      throw new TidalError('HeaderMismatch', `shard state reached LSN ${state.appliedLsn} but the log holds ${options.wal.lastLsn}`);
    }
    return new ShardLeader(options, state);
  }

  /** The last LSN applied to `state`. */
  get appliedLsn(): number {
    return this.state.appliedLsn;
  }

  /** Resolves once `lsn` is applied here; rejects with `Timeout` after `timeoutMs`. */
  whenApplied(lsn: number, timeoutMs = 10_000): Promise<void> {
    if (lsn <= this.state.appliedLsn) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new TidalError('Timeout', `shard ${this.shard} leader did not reach LSN ${lsn} within ${timeoutMs} ms (applied ${this.state.appliedLsn})`));
      }, timeoutMs);
      const waiter = { lsn, resolve: () => (clearTimeout(timer), resolve()) };
      this.waiters.add(waiter);
    });
  }

  private readonly waiters = new Set<{ lsn: number; resolve(): void }>();

  /**
   * Admits a write, or recognises it as a duplicate. Resolves with its
   * token once it is in the log (and applied); a duplicate resolves with
   * the original token. Throws `InvalidArgument` for a malformed request,
   * `SeqGap`, `StaleWrite` or `SessionExpired` from the idempotency check,
   * and the WAL's error if the append fails (the writer resends it).
   */
  async write(request: WriteRequest): Promise<WriteToken> {
    validateWriteRequest(request);
    const now = this.now();
    const store = this.state.idempotency;
    if (request.idempotencyKey !== undefined) {
      const lsn = store.lsnForKey(request.idempotencyKey, now);
      if (lsn !== undefined) return { shard: this.shard, lsn };
      const pending = this.inFlight.get(`key:${request.idempotencyKey}`);
      if (pending) return pending;
    }
    const slot = `${request.session}:${request.seq}`;
    const admission = store.classify(request, now);
    if (admission.kind === 'duplicate') return { shard: this.shard, lsn: admission.lsn };
    if (admission.kind === 'in-flight') {
      const pending = this.inFlight.get(slot);
      if (pending) return pending;
      throw new TidalError('SeqGap', `write ${request.seq} of session ${request.session} is in flight on another path; resend later`);
    }
    store.admit(request, now);
    const ops: CrdtOperation[] = request.ops.map((op) => ({ ...op, replica: this.replica, hlc: this.hlc.now() }) as CrdtOperation);
    const event: WriteEvent = {
      t: 'write',
      session: request.session,
      startedAt: request.startedAt,
      seq: request.seq,
      acked: request.acked,
      at: now,
      ...(request.idempotencyKey !== undefined ? { key: request.idempotencyKey } : {}),
      ops,
    };
    const committed = this.wal.append([event as unknown as Value]).then(
      (range) => {
        this.state.apply(range.first, event as unknown as Value);
        for (const waiter of this.waiters) {
          if (waiter.lsn <= range.first) {
            this.waiters.delete(waiter);
            waiter.resolve();
          }
        }
        return { shard: this.shard, lsn: range.first };
      },
      (error: unknown) => {
        store.abandon(request.session, request.seq);
        throw error;
      },
    );
    this.inFlight.set(slot, committed);
    if (request.idempotencyKey !== undefined) this.inFlight.set(`key:${request.idempotencyKey}`, committed);
    try {
      return await committed;
    } finally {
      this.inFlight.delete(slot);
      if (request.idempotencyKey !== undefined) this.inFlight.delete(`key:${request.idempotencyKey}`);
    }
  }
}
