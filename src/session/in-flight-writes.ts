/**
 * `InFlightWrites`: what a shard's leader knows of a write before it
 * appends it: whether it was applied before, is on its way into the log
 * (admitted in a batch not yet committed), or is new. A duplicate (a
 * retry, a resend after a reconnect or a failover) is answered with the
 * original write's token, and a write still on its way into the log is
 * waited for, not appended twice.
 *
 *     const found = inFlight.lookUp(request, now);  // undefined: new; throws what the idempotency check refuses
 *     inFlight.add(request, { committed, index });   // admitted in a batch whose LSNs `committed` gives
 *     // ... committed ...
 *     inFlight.remove(event);
 */
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardState } from './shard-state.js';
import { validateWriteRequest, type WriteRequest, type WriteToken } from './write.js';

/** A write's place in a batch on its way into the log: the batch's LSNs once committed (`undefined`: not appended), and its index. */
export interface BatchPlace {
  /** Resolves with the LSN of each write of the batch, in order, once the batch is committed (`undefined` for one not appended). */
  readonly committed: Promise<readonly (number | undefined)[]>;
  /** The write's index in the batch. */
  readonly index: number;
}

/** What is known of a request: a promise of the token of the write it repeats; `repeat` when its own SeqNo is new and must still be used up. */
export interface KnownWrite {
  /** `known`: the request itself was admitted before; `repeat`: a new SeqNo carrying an earlier write's idempotency key. */
  readonly kind: 'known' | 'repeat';
  /** The earlier write's token. */
  readonly token: Promise<WriteToken>;
}

/** The writes a leader admitted and has not yet committed, by session/SeqNo and by idempotency key. */
export class InFlightWrites {
  private readonly shard: ShardId;
  private readonly state: ShardState;
  private readonly places = new Map<string, BatchPlace>();

  /** Writes to `shard`, checked against `state`'s idempotency store. */
  constructor(shard: ShardId, state: ShardState) {
    this.shard = shard;
    this.state = state;
  }

  /**
   * What is already known of `request`: a promise of its token when it was
   * applied before or is on its way into the log (nothing is appended for
   * it again), `undefined` when it is new. Throws what the idempotency
   * check refuses.
   */
  lookUp(request: WriteRequest, now: number): KnownWrite | undefined {
    if (request.block === undefined) validateWriteRequest(request); // a framed request was checked whole as its frame was read
    const store = this.state.idempotency;
    if (request.idempotencyKey !== undefined) {
      const lsn = store.lsnForKey(request.idempotencyKey, now);
      const pending = lsn === undefined ? this.places.get(`key:${request.idempotencyKey}`) : undefined;
      if (lsn !== undefined || pending) {
        const token = pending ? this.tokenOf(pending) : Promise.resolve({ shard: this.shard, lsn: lsn! });
        return { kind: this.seqIsNew(request, now) ? 'repeat' : 'known', token };
      }
    }
    const admission = store.classify(request, now);
    if (admission.kind === 'duplicate') return { kind: 'known', token: Promise.resolve({ shard: this.shard, lsn: admission.lsn }) };
    if (admission.kind === 'in-flight') {
      const pending = this.places.get(`${request.session}:${request.seq}`);
      if (pending) return { kind: 'known', token: this.tokenOf(pending) };
      throw new TidalError('SeqGap', `write ${request.seq} of session ${request.session} is in flight on another path; resend later`);
    }
    return undefined;
  }

  /** `request` is admitted at `place`: a duplicate of it, or a repeat of its key, waits for that batch. */
  add(request: WriteRequest, place: BatchPlace): void {
    this.places.set(`${request.session}:${request.seq}`, place);
    if (request.idempotencyKey !== undefined) this.places.set(`key:${request.idempotencyKey}`, place);
  }

  /** The write is committed or failed: the idempotency store (or a resend) answers for it from now on. */
  remove(write: { readonly session: string; readonly seq: number; readonly key?: string }): void {
    this.places.delete(`${write.session}:${write.seq}`);
    if (write.key !== undefined) this.places.delete(`key:${write.key}`);
  }

  /**
   * Whether `request`'s SeqNo is the session's next, not yet taken. A gap
   * before it throws `SeqGap` (the writer resends in order); a session the
   * store refuses (stale, expired) takes no SeqNo here: its key's token answers.
   */
  private seqIsNew(request: WriteRequest, now: number): boolean {
    try {
      return this.state.idempotency.classify(request, now).kind === 'new';
    } catch (error) {
      if (isTidalError(error, 'SeqGap')) throw error;
      return false;
    }
  }

  private tokenOf(place: BatchPlace): Promise<WriteToken> {
    return place.committed.then((lsns) => {
      const lsn = lsns[place.index];
      if (lsn === undefined) throw new TidalError('StorageError', 'the write this one duplicates was not appended; resend it');
      return { shard: this.shard, lsn };
    });
  }
}
