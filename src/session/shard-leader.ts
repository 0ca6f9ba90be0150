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
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { HLC } from '../crdt/hlc.js';
import { validateOperation, type CounterOperation, type CrdtOperation } from '../crdt/operation.js';
import type { PendingSteps } from '../crdt/pn-counter.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Value } from '../wal/payload.js';
import type { LsnRange } from '../wal/segment-log.js';
import type { Wal } from '../wal/wal.js';
import type { IdempotencyStoreOptions } from './idempotency-store.js';
import { ShardState } from './shard-state.js';
import { EMPTY_OPS_BLOCK_V3, encodeOpsBlockV3 } from './ops-block-v3.js';
import { writeEventWithBlock } from './write-event-codec.js';
import {
  validateWriteRequest,
  type ClientOperation,
  type ImportEvent,
  type WriteEvent,
  type WriteRequest,
  type WriteToken,
} from './write.js';

/** Options of `ShardLeader.open`. */
export interface ShardLeaderOptions extends IdempotencyStoreOptions {
  /** The shard's log, opened (and recovered) by the caller; the leader replays it. */
  readonly wal: Wal;
  /** This leader's replica id (stamps the operations it admits). */
  readonly replica: string;
  /** A state already holding the log's events (a promoted follower's); replayed from the WAL when absent. */
  readonly state?: ShardState;
  /** Wall clock (HLC stamps, session expiry) and timers (read waits). Default `systemClock`. */
  readonly clock?: Clock;
}

/** The outcome of one write of a batch: its token, or why it was refused. */
export type WriteOutcome =
  | {
      /** The write was admitted (now or before, for a duplicate). */
      readonly ok: true;
      /** Where the write is: its shard and LSN. */
      readonly token: WriteToken;
    }
  | {
      /** The write was refused; nothing of it was applied. */
      readonly ok: false;
      /** Why: a `TidalError` with a specific code. */
      readonly error: unknown;
    };

/** Admits writes to one shard, exactly once per (session, SeqNo). */
export class ShardLeader {
  /** The shard this leader admits writes to (its WAL's shard). */
  readonly shard: ShardId;
  /** The state the leader's log builds: CRDTs and the idempotency store. */
  readonly state: ShardState;
  private readonly wal: Wal;
  private readonly replica: string;
  private readonly hlc: HLC;
  private readonly clock: Clock;
  /** Writes admitted and not yet committed, by session/SeqNo and by idempotency key: their batch and place in it. */
  private readonly inFlight = new Map<string, { committed: Promise<readonly (number | undefined)[]>; index: number }>();
  /** Imports from other devices on their way into the log: device → the cursor they advance it to. */
  private readonly merging = new Map<string, number>();
  /**
   * Counter steps admitted and not yet applied (all of this leader's
   * replica): their sum over every counter and both directions, a bound on
   * what any one counter has pending (exact while `pendingStepSumExact`),
   * and the operations of the writes that hold them, by admission, for the
   * exact count of one counter's steps near ±(2^53-1).
   */
  private pendingStepSum = 0;
  private pendingStepSumExact = true;
  private readonly pendingWrites = new Map<number, readonly ClientOperation[]>();
  private nextPendingWrite = 0;

  private constructor(options: ShardLeaderOptions, state: ShardState) {
    this.wal = options.wal;
    this.shard = options.wal.shard;
    this.replica = options.replica;
    this.clock = options.clock ?? systemClock;
    // Never stamp behind what the log already holds, whatever the wall clock says now.
    let initial = 0n;
    for (const [, entity] of state.crdt.entityEntries()) if (entity.maxHlc() > initial) initial = entity.maxHlc();
    this.hlc = new HLC({ now: () => this.clock.now(), initial });
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
      const timer = this.clock.setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new TidalError(
            'Timeout',
            `shard ${this.shard} leader did not reach LSN ${lsn} within ${timeoutMs} ms (applied ${this.state.appliedLsn})`,
          ),
        );
      }, timeoutMs);
      const waiter = { lsn, resolve: () => (this.clock.clearTimeout(timer), resolve()) };
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
    const [outcome] = await this.writeBatch([request]);
    if (outcome!.ok) return outcome!.token;
    throw outcome!.error;
  }

  /**
   * Admits a tick's writes together: each is checked on its own (its
   * outcome is its token or its error, as `write` would give), and those
   * admitted are appended as one batch and applied in order once
   * committed. Never rejects; an append failure fails the writes it held.
   */
  async writeBatch(requests: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    const now = this.clock.now();
    const outcomes: (WriteOutcome | Promise<WriteOutcome>)[] = [];
    const admitted: { index: number; event: WriteEvent; logged: Value; steps: number; pending: number }[] = [];
    let settle!: (lsns: readonly (number | undefined)[]) => void;
    const committed = new Promise<readonly (number | undefined)[]>((resolve) => (settle = resolve));
    /**
     * The writes that repeat an earlier write's idempotency key: their outcome is that write's
     * (handled at once: it goes unused when the repeat's own append fails, and it rejects when the
     * earlier write's append failed).
     */
    const repeats = new Map<number, Promise<WriteOutcome>>();
    for (const given of requests) {
      try {
        const found = this.lookUp(given, now);
        if (found?.kind === 'known') {
          outcomes.push(answer(found.token));
          continue;
        }
        // A new SeqNo whose key an earlier write carried: nothing of it is applied again, but its SeqNo
        // is used up in the log, as an empty write, or the session's next writes would wait behind a
        // gap that nothing fills (on this leader and on any that recovers the log).
        const request = found ? withoutEffect(given) : given;
        if (found) repeats.set(outcomes.length, answer(found.token));
        const steps = this.checkCounterSteps(request.ops);
        this.state.idempotency.admit(request, now);
        const pending = this.reserveCounterSteps(request.ops, steps);
        const { event, logged } = this.eventFor(request, now);
        const inBatch = { committed, index: admitted.length };
        this.inFlight.set(`${request.session}:${request.seq}`, inBatch);
        if (request.idempotencyKey !== undefined) this.inFlight.set(`key:${request.idempotencyKey}`, inBatch);
        outcomes.push({ ok: false, error: undefined }); // replaced once committed
        admitted.push({ index: outcomes.length - 1, event, logged, steps, pending });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    }
    if (admitted.length > 0) {
      const results = await this.appendEvents(admitted.map((a) => a.logged));
      const lsns: (number | undefined)[] = [];
      admitted.forEach(({ index, event, steps, pending }, i) => {
        const result = results[i]!;
        this.releaseCounterSteps(steps, pending);
        this.inFlight.delete(`${event.session}:${event.seq}`);
        if (event.key !== undefined) this.inFlight.delete(`key:${event.key}`);
        if ('lsn' in result) {
          this.state.applyEvent(result.lsn, event); // LSNs ascend with i: applied in log order; checked on admission
          const repeated = repeats.get(index);
          outcomes[index] = repeated ?? { ok: true, token: { shard: this.shard, lsn: result.lsn } };
          lsns.push(result.lsn);
          this.wakeWaiters(result.lsn);
        } else {
          this.state.idempotency.abandon(event.session, event.seq);
          outcomes[index] = { ok: false, error: result.error };
          lsns.push(undefined);
        }
      });
      settle(lsns);
    }
    return Promise.all(outcomes);
  }

  /**
   * What is already known of `request`: a promise of its token when it was
   * applied before or is on its way into the log (nothing is appended for
   * it again), `undefined` when it is new. Throws what the idempotency
   * check refuses.
   */
  private lookUp(request: WriteRequest, now: number): { kind: 'known' | 'repeat'; token: Promise<WriteToken> } | undefined {
    if (request.block === undefined) validateWriteRequest(request); // a framed request was checked whole as its frame was read
    const store = this.state.idempotency;
    if (request.idempotencyKey !== undefined) {
      const lsn = store.lsnForKey(request.idempotencyKey, now);
      const pending = lsn === undefined ? this.inFlight.get(`key:${request.idempotencyKey}`) : undefined;
      if (lsn !== undefined || pending) {
        const token = pending ? this.tokenOf(pending) : Promise.resolve({ shard: this.shard, lsn: lsn! });
        return { kind: this.seqIsNew(request, now) ? 'repeat' : 'known', token };
      }
    }
    const admission = store.classify(request, now);
    if (admission.kind === 'duplicate') return { kind: 'known', token: Promise.resolve({ shard: this.shard, lsn: admission.lsn }) };
    if (admission.kind === 'in-flight') {
      const pending = this.inFlight.get(`${request.session}:${request.seq}`);
      if (pending) return { kind: 'known', token: this.tokenOf(pending) };
      throw new TidalError('SeqGap', `write ${request.seq} of session ${request.session} is in flight on another path; resend later`);
    }
    return undefined;
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

  private tokenOf(pending: { committed: Promise<readonly (number | undefined)[]>; index: number }): Promise<WriteToken> {
    return pending.committed.then((lsns) => {
      const lsn = lsns[pending.index];
      if (lsn === undefined) throw new TidalError('StorageError', 'the write this one duplicates was not appended; resend it');
      return { shard: this.shard, lsn };
    });
  }

  /**
   * Refuses (`Overflow`) a write whose counter steps would take a counter
   * past ±(2^53-1) once applied after the steps already admitted (and the
   * write's own earlier steps); else returns the sum of its steps, which
   * the leader holds as pending until the write is applied, so that no
   * acknowledged step is refused when it is applied.
   *
   * Each step is first checked as if every pending step of the leader were
   * on its counter, in its direction: one lookup of the counter, no
   * bookkeeping per counter (this check was an eighth of a leader worker's
   * CPU with a map of pending steps per counter). Only a counter that close
   * to the bound is checked again with its own pending steps, counted
   * from the pending writes.
   */
  private checkCounterSteps(ops: WriteRequest['ops']): number {
    let steps = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op !== 'increment' && op.op !== 'decrement') continue;
      const step = { op: op.op, key: op.key, kind: op.kind, by: op.by, replica: this.replica };
      const bound = this.pendingStepSum + steps;
      if (this.pendingStepSumExact && bound + op.by <= Number.MAX_SAFE_INTEGER && this.fitsWithin(step, bound)) {
        steps += op.by;
        continue;
      }
      this.state.crdt.checkCounterStep(step, this.pendingStepsOf(op.key, op.kind, ops, i));
      steps += op.by;
    }
    return steps;
  }

  /** Whether `step` fits with `bound` pending steps on its counter in its direction (what could be pending at most). */
  private fitsWithin(step: CounterOperation, bound: number): boolean {
    try {
      this.state.crdt.checkCounterStep(
        step,
        step.op === 'increment' ? { increments: bound, decrements: 0 } : { increments: 0, decrements: bound },
      );
      return true;
    } catch (error) {
      if (isTidalError(error, 'Overflow')) return false;
      throw error;
    }
  }

  /** The steps pending on counter (`key`, `kind`): those of the writes admitted and not applied, and `ops[0..end)`. */
  private pendingStepsOf(key: string, kind: string, ops: WriteRequest['ops'], end: number): PendingSteps {
    const pending = { increments: 0, decrements: 0 };
    const count = (op: ClientOperation) => {
      if ((op.op === 'increment' || op.op === 'decrement') && op.key === key && op.kind === kind)
        pending[op.op === 'increment' ? 'increments' : 'decrements'] += op.by;
    };
    for (const written of this.pendingWrites.values()) for (const op of written) count(op);
    for (let i = 0; i < end; i++) count(ops[i]!);
    return pending;
  }

  /** Holds an admitted write's `steps` (its operations `ops`) as pending; returns what `releaseCounterSteps` takes back. */
  private reserveCounterSteps(ops: readonly ClientOperation[], steps: number): number {
    if (steps === 0) return -1;
    const id = this.nextPendingWrite++;
    this.pendingWrites.set(id, ops);
    this.pendingStepSum += steps;
    if (this.pendingStepSum > Number.MAX_SAFE_INTEGER) this.pendingStepSumExact = false; // a double no longer holds it exactly
    return id;
  }

  /** The write's steps are applied (or will never be): no longer pending. */
  private releaseCounterSteps(steps: number, pending: number): void {
    if (pending < 0) return;
    this.pendingWrites.delete(pending);
    this.pendingStepSum -= steps;
    if (this.pendingWrites.size === 0) {
      this.pendingStepSum = 0;
      this.pendingStepSumExact = true;
    }
  }

  /**
   * The WAL event of an admitted request: its operations stamped by this
   * leader (consecutive HLCs from one `reserve`), with what guards them;
   * and its logged form, which holds the writer's operations block as it
   * came (encoded here only for a request that did not come in a frame).
   */
  private eventFor(request: WriteRequest, now: number): { event: WriteEvent; logged: Value } {
    const replica = this.replica;
    const count = request.ops.length;
    const first = count > 0 ? this.hlc.reserve(count) : this.hlc.last;
    const ops: CrdtOperation[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const op = request.ops[i]!;
      const hlc = first + BigInt(i);
      ops[i] =
        op.op === 'set'
          ? { op: 'set', key: op.key, field: op.field, value: op.value, replica, hlc }
          : op.op === 'add'
            ? { op: 'add', key: op.key, set: op.set, member: op.member, replica, hlc }
            : { op: op.op, key: op.key, kind: op.kind, by: op.by, replica, hlc };
    }
    const fields = {
      t: 'write' as const,
      session: request.session,
      startedAt: request.startedAt,
      seq: request.seq,
      acked: request.acked,
      at: now,
      ...(request.idempotencyKey !== undefined ? { key: request.idempotencyKey } : {}),
    };
    const block = request.block ?? (count === 0 ? EMPTY_OPS_BLOCK_V3 : encodeOpsBlockV3(request.ops));
    return { event: { ...fields, ops }, logged: writeEventWithBlock(fields, replica, first, block) };
  }

  /**
   * Appends events as one batch: each event's LSN, or why it was not
   * appended. If one of them cannot be appended for what it holds, the
   * append refuses the lot before writing anything; the events are then
   * appended one by one (still one batch: same tick), and only the bad one
   * fails.
   */
  private async appendEvents(events: readonly Value[]): Promise<({ lsn: number } | { error: unknown })[]> {
    try {
      const { first } = await this.wal.append(events);
      return events.map((_, i) => ({ lsn: first + i }));
    } catch (error) {
      if (!isTidalError(error, 'Unencodable') || events.length === 1) return events.map(() => ({ error }));
      return Promise.all(
        events.map((event) =>
          this.wal.append([event]).then(
            (range) => ({ lsn: range.first }),
            (single: unknown) => ({ error: single }),
          ),
        ),
      );
    }
  }

  /**
   * Appends operations merged from another device (device sync), in a
   * batch of their own, with the cursor they advance `device` to: the
   * operations keep their original stamps (so that every device orders and
   * counts them alike), and their HLCs move this leader's clock, so that
   * later local writes order after them. Refuses `StaleWrite` when
   * `device` is already merged up to `upTo` (nothing is merged twice).
   */
  async merge(
    device: string,
    upTo: number,
    ops: readonly CrdtOperation[],
  ): Promise<{
    /** LSN of the import event that holds the operations. */
    lsn: number;
  }> {
    const { first } = await this.mergeAll([{ device, upTo, ops }]);
    return { lsn: first };
  }

  /**
   * `merge` of several devices at once, as one batch: the operations and
   * every cursor land together or not at all (a snapshot of another device
   * covers several devices' logs, docs/SYNC.md §9). Each device at most
   * once; `StaleWrite` if any is already merged up to its `upTo`.
   */
  async mergeAll(imports: readonly { device: string; upTo: number; ops: readonly CrdtOperation[] }[]): Promise<LsnRange> {
    if (imports.length === 0) throw new TidalError('InvalidArgument', 'mergeAll takes at least one device');
    const devices = new Set<string>();
    for (const { device, upTo } of imports) {
      const merged = Math.max(this.state.syncCursors.get(device) ?? 0, this.merging.get(device) ?? 0);
      if (upTo <= merged || devices.has(device)) {
        throw new TidalError('StaleWrite', `device ${device} is merged up to LSN ${merged} already, not again up to ${upTo}`);
      }
      devices.add(device);
    }
    for (const { ops } of imports) {
      for (const op of ops) {
        validateOperation(op);
        if (op.hlc !== undefined) {
          try {
            this.hlc.receive(op.hlc);
          } catch {
            // A remote clock too far ahead: the operation is merged as stamped, our clock does not follow it.
          }
        }
      }
    }
    const at = this.clock.now();
    const events: ImportEvent[] = imports.map(({ device, upTo, ops }) => ({ t: 'import', device, upTo, at, ops }));
    for (const { device, upTo } of imports) this.merging.set(device, upTo);
    try {
      const range = await this.wal.append(events as unknown as Value[]);
      events.forEach((event, i) => this.state.apply(range.first + i, event as unknown as Value));
      this.wakeWaiters(range.last);
      return range;
    } finally {
      for (const { device } of imports) this.merging.delete(device);
    }
  }

  private wakeWaiters(lsn: number): void {
    for (const waiter of this.waiters) {
      if (waiter.lsn <= lsn) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

/** The outcome of a write answered with another write's token. */
function answer(token: Promise<WriteToken>): Promise<WriteOutcome> {
  return token.then(
    (t): WriteOutcome => ({ ok: true, token: t }),
    (error: unknown): WriteOutcome => ({ ok: false, error }),
  );
}

/** `request` as the empty write that only takes its SeqNo (its key stays with the write that carried it first). */
function withoutEffect(request: WriteRequest): WriteRequest {
  const { idempotencyKey: _key, block: _block, ...rest } = request;
  return { ...rest, ops: [] };
}
