/**
 * Group commit: appends issued in the same tick share one batch. Each
 * `append` encodes its events at once into the pending group's buffer (so
 * a bad value fails that call alone, and nothing of it is written), and a
 * microtask hands everything pending to the log as one batch: one storage
 * write, one flush. Groups commit one after another on one chain, which
 * the follower import and `flush` also join, so the log sees its writes in
 * the order they were issued.
 *
 *     const commits = new GroupCommit(log, maxBatchBytes);
 *     const range = await commits.append([event]); // resolves once its batch is committed
 */
import { Encoder } from '../common/bytes.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { BATCH_HEADER_V2_BYTES } from './format.js';
import { encodeValue, PAYLOAD_VERSION, type Value } from './payload.js';
import type { LsnRange } from './segment-log.js';

/** What the group commit writes to. */
export interface GroupCommitTarget {
  /** Throws when the log cannot take appends now (closed, failed). */
  assertUsable(): void;
  /**
   * Writes one batch: `batch` is a 72-byte header gap (filled in by the
   * target) followed by the payload. Resolves with the batch's first LSN
   * once it is committed. Calls `committed` with that LSN as soon as the
   * batch is committed (flushed, when durable), before it tells anyone
   * else (its commit listeners: the shippers).
   */
  commitBatch(batch: Uint8Array, eventCount: number, committed: (firstLsn: number) => void): Promise<number>;
  /**
   * Runs on the commit chain after a batch's appends are resolved, before
   * the next group commits: housekeeping that must not delay an
   * acknowledgement (the log's turn of the event loop while it opens its
   * next segment ahead).
   */
  afterCommit?(): Promise<void>;
}

/** Appends waiting for the next group commit. */
interface PendingGroup {
  /** The group's buffer, which appends encode into; none for a batch appended already encoded (`appendEncoded`). */
  readonly encoder: Encoder | undefined;
  /** That batch (header gap and payload), written as it is. */
  readonly encoded?: Uint8Array;
  eventCount: number;
  /** Set once the group is queued for commit; no append joins it after that. */
  queued: boolean;
  readonly waiters: Waiter[];
}

/** An append waiting for its group's commit. */
interface Waiter {
  readonly count: number;
  /** Called, in the commit itself, as soon as the batch is committed (see `GroupCommit.append`). */
  readonly committed: ((range: LsnRange) => void) | undefined;
  resolve(range: LsnRange): void;
  reject(error: unknown): void;
}

/** Encoders this large are dropped after use rather than kept for the next group. */
const MAX_SPARE_ENCODER_BYTES = 1024 * 1024;

/** The pending group and the chain of commits. */
export class GroupCommit {
  private pending: PendingGroup | undefined;
  private readonly spareEncoders: Encoder[] = [];
  /** The chain of group commits, so that they run one after another. */
  private committing: Promise<void> = Promise.resolve();
  /** While set, group commits wait for it before they write (`hold`). */
  private held: Promise<void> | undefined;

  private readonly target: GroupCommitTarget;
  private readonly maxBatchBytes: number;

  constructor(target: GroupCommitTarget, maxBatchBytes: number) {
    this.target = target;
    this.maxBatchBytes = maxBatchBytes;
  }

  /**
   * Joins `events` (at least one) to the pending group; resolves with their
   * LSN range once the group's batch is committed. Throws `Unencodable` at
   * once for a value the payload encoding refuses, `PayloadTooLarge` for
   * more than `maxBatchBytes` of encoded events.
   *
   * `committed`, when given, is called with the same range as soon as the
   * batch is committed, synchronously, before the target's commit
   * listeners run and before any append's promise resolves: an answer that
   * must not wait behind shipping (a leader's reply to its writer). Its
   * failure is its own.
   */
  append(events: readonly Value[], committed?: (range: LsnRange) => void): Promise<LsnRange> {
    const group = this.pending;
    const encoder = group?.encoder ?? this.takeEncoder();
    const start = encoder.length;
    try {
      for (let i = 0; i < events.length; i++) encodeValue(encoder, events[i] as Value);
    } catch (error) {
      encoder.length = start;
      if (!group) this.spareEncoders.push(encoder);
      if (isTidalError(error) && error.code === 'Unencodable') {
        const index = events.findIndex((event) => {
          try {
            encodeValue(new Encoder(64), event);
            return false;
          } catch {
            return true;
          }
        });
        throw new TidalError('Unencodable', `events[${index}]: ${error.message}`, { cause: error });
      }
      throw error;
    }
    const added = encoder.length - start;
    if (added > this.maxBatchBytes) {
      encoder.length = start;
      if (!group) this.spareEncoders.push(encoder);
      throw new TidalError('PayloadTooLarge', `append of ${added} encoded bytes exceeds maxBatchBytes (${this.maxBatchBytes}); split it`, {
        details: { size: added, max: this.maxBatchBytes },
      });
    }
    if (group && encoder.length - BATCH_HEADER_V2_BYTES - 1 > this.maxBatchBytes) {
      // This call would make the group's batch too large: commit the group without it.
      const moved = encoder.bytesView().slice(start);
      encoder.length = start;
      this.schedule(group, true);
      const fresh = this.takeEncoder();
      fresh.writeRaw(moved);
      return this.join(undefined, fresh, events.length, committed);
    }
    return this.join(group, encoder, events.length, committed);
  }

  /**
   * Appends a batch its caller encoded: `batch` is the 72-byte header gap
   * (filled in at commit), then a payload of exactly `eventCount` events in
   * `encodePayload`'s form, which the caller vouches for (its events are not
   * read here; a state import builds it around bytes already in place, so
   * that they are not copied). It commits as a group of its own, after every
   * append issued before, its bytes written as they are: they must not
   * change until it settles. `PayloadTooLarge` as for `append`;
   * `InvalidArgument` for no event or no payload version byte.
   */
  appendEncoded(batch: Uint8Array, eventCount: number, committed?: (range: LsnRange) => void): Promise<LsnRange> {
    if (!Number.isSafeInteger(eventCount) || eventCount < 1 || batch[BATCH_HEADER_V2_BYTES] !== PAYLOAD_VERSION) {
      throw new TidalError('InvalidArgument', `an encoded batch holds at least one event after its header gap and payload version`);
    }
    const added = batch.length - BATCH_HEADER_V2_BYTES - 1;
    if (added > this.maxBatchBytes) {
      throw new TidalError('PayloadTooLarge', `append of ${added} encoded bytes exceeds maxBatchBytes (${this.maxBatchBytes}); split it`, {
        details: { size: added, max: this.maxBatchBytes },
      });
    }
    if (this.pending) this.schedule(this.pending, true); // the appends before it commit first, in their own batch
    const group: PendingGroup = { encoder: undefined, encoded: batch, eventCount, waiters: [], queued: false };
    const result = new Promise<LsnRange>((resolve, reject) => group.waiters.push({ count: eventCount, committed, resolve, reject }));
    this.schedule(group, true);
    return result;
  }

  /** Runs `operation` on the commit chain, after every append issued so far. */
  afterPending<T>(operation: () => Promise<T>): Promise<T> {
    if (this.pending) this.schedule(this.pending, true);
    const result = this.committing.then(operation);
    this.committing = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Holds group commits back until `until` settles: a group not yet
   * written waits for it, and the appends in it are acknowledged only then
   * (back-pressure). Operations run by `afterPending` are not held
   * themselves, but run after the held groups queued before them.
   */
  hold(until: Promise<unknown>): void {
    const held: Promise<void> = until.then(
      () => undefined,
      () => undefined,
    );
    this.held = held;
    void held.then(() => {
      if (this.held === held) this.held = undefined;
    });
  }

  /** Resolves once every append issued before the call is committed (or has failed). */
  async settle(): Promise<void> {
    if (this.pending) this.schedule(this.pending, true);
    await this.committing;
  }

  private takeEncoder(): Encoder {
    const encoder = this.spareEncoders.pop() ?? new Encoder(64 * 1024);
    encoder.length = 0;
    encoder.writeRaw(new Uint8Array(BATCH_HEADER_V2_BYTES)); // the header is filled in at commit
    encoder.writeU8(PAYLOAD_VERSION);
    return encoder;
  }

  private join(
    group: PendingGroup | undefined,
    encoder: Encoder,
    count: number,
    committed: ((range: LsnRange) => void) | undefined,
  ): Promise<LsnRange> {
    if (!group) {
      group = { encoder, eventCount: 0, waiters: [], queued: false };
      this.pending = group;
      this.schedule(group, false);
    }
    group.eventCount += count;
    const joined = group;
    return new Promise<LsnRange>((resolve, reject) => joined.waiters.push({ count, committed, resolve, reject }));
  }

  /** Queues the group's commit after the commits before it; `now` closes the group to new appends at once. */
  private schedule(group: PendingGroup, now: boolean): void {
    const run = () => {
      if (group.queued) return;
      group.queued = true;
      if (this.pending === group) this.pending = undefined;
      this.committing = this.committing.then(() => this.commit(group));
    };
    if (now) run();
    else queueMicrotask(run);
  }

  private async commit(group: PendingGroup): Promise<void> {
    try {
      if (this.held) await this.held;
      this.target.assertUsable();
      const batch = group.encoder?.bytesView() ?? group.encoded!;
      let lsn = await this.target.commitBatch(batch, group.eventCount, (first) => tellCommitted(group.waiters, first));
      for (const waiter of group.waiters) {
        waiter.resolve({ first: lsn, last: lsn + waiter.count - 1 });
        lsn += waiter.count;
      }
    } catch (error) {
      for (const waiter of group.waiters) waiter.reject(error);
      return;
    } finally {
      if (group.encoder && group.encoder.length <= MAX_SPARE_ENCODER_BYTES) this.spareEncoders.push(group.encoder);
    }
    try {
      await this.target.afterCommit?.();
    } catch {
      // Housekeeping only: the next group commits regardless (the chain must not break).
    }
  }
}

/** Calls the `committed` of each waiter that has one, with its range of the batch starting at `first`. */
function tellCommitted(waiters: readonly Waiter[], first: number): void {
  let lsn = first;
  for (const waiter of waiters) {
    if (waiter.committed) {
      try {
        waiter.committed({ first: lsn, last: lsn + waiter.count - 1 });
      } catch {
        // The caller's: the batch is committed, and every append of it resolves regardless.
      }
    }
    lsn += waiter.count;
  }
}
