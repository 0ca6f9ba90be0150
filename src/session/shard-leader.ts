/**
 * `ShardLeader`: the write side of one shard. It takes a session's
 * `WriteRequest`, checks it against the `IdempotencyStore`, stamps its
 * operations with the leader's HLC, appends it to the WAL (with the
 * (session, SeqNo) and key that guard it), applies it once committed, and
 * answers with a `WriteToken { shard, lsn }`.
 *
 *     const leader = await ShardLeader.open({ wal, replica: 'tab-a.3' });
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
import { assertReplicaId } from '../crdt/replica-id.js';
import { validateOperation, type CrdtOperation } from '../crdt/operation.js';
import type { CrdtSignalState } from '../crdt/signal-state.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Value } from '../wal/payload.js';
import type { LsnRange } from '../wal/segment-log.js';
import type { Wal } from '../wal/wal.js';
import { AppliedWaiters } from './applied-waiters.js';
import { stateImportBatchInPlace } from './state-import-batch.js';
import type { IdempotencyStoreOptions } from './idempotency-store.js';
import { InFlightWrites } from './in-flight-writes.js';
import { PendingCounterSteps } from './pending-counter-steps.js';
import { ShardState } from './shard-state.js';
import { stampWrite, withoutEffect } from './stamp-write.js';
import {
  assertImportOrigin,
  loggedStateImport,
  STATE_IMPORT,
  type ImportEvent,
  type LogEvent,
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
  /** Writes admitted and not yet committed: their batch and place in it. */
  private readonly inFlight: InFlightWrites;
  /** Counter steps admitted and not yet applied. */
  private readonly pendingSteps: PendingCounterSteps;
  /** Readers waiting for an LSN to be applied here. */
  private readonly waiters: AppliedWaiters;
  /** Imports from other devices on their way into the log: device → the cursor they advance it to. */
  private readonly merging = new Map<string, number>();
  /** Batches and merges admitted and not yet settled (applied or failed): what `close` waits for. */
  private readonly unsettled = new Set<Promise<unknown>>();
  private closed = false;
  /** Why storage refused the last append (`StorageFull`, `StorageError`), until an append succeeds again. */
  private refusal: unknown;

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
    this.inFlight = new InFlightWrites(this.shard, state);
    this.pendingSteps = new PendingCounterSteps(state, this.replica);
    this.waiters = new AppliedWaiters(this.shard, this.clock, () => state.appliedLsn);
  }

  /** Takes over a shard's log: replays it (unless given a state that holds it) and starts admitting writes. */
  static async open(options: ShardLeaderOptions): Promise<ShardLeader> {
    // Followers and other devices refuse operations stamped with a malformed replica id: a leader that
    // stamped one would acknowledge writes that no replica of it could ever apply.
    assertReplicaId(options.replica, 'ShardLeader replica');
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

  /** This leader's replica id (what it stamps the operations it admits with). */
  get replicaId(): string {
    return this.replica;
  }

  /** The last LSN applied to `state`. */
  get appliedLsn(): number {
    return this.state.appliedLsn;
  }

  /** Resolves once `lsn` is applied here; rejects with `Timeout` after `timeoutMs`. */
  whenApplied(lsn: number, timeoutMs = 10_000): Promise<void> {
    return this.waiters.whenApplied(lsn, timeoutMs);
  }

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
   *
   * `answered`, when given, is called with the outcomes as soon as the
   * batch is committed (flushed, in durable mode), from the commit itself,
   * before the batch is shipped to followers and before its writes are
   * applied (in the same task, before any other message is taken): a worker
   * posts its reply there, so the writer's next tick is not held behind
   * the shipping and the apply. It is not called when
   * an outcome is only known later (a duplicate of a write still in
   * flight): the returned promise, which resolves with the same outcomes
   * once they are applied, then answers.
   */
  writeBatch(requests: readonly WriteRequest[], answered?: (outcomes: readonly WriteOutcome[]) => void): Promise<WriteOutcome[]> {
    if (this.closed) return Promise.resolve(requests.map(() => ({ ok: false, error: this.closedError() })));
    return this.track(this.admitBatch(requests, answered));
  }

  /**
   * Stops admitting writes and merges (later ones are refused with
   * `Closed`) and resolves once every one admitted before is settled:
   * applied to `state` once committed, or failed. What a clean close does
   * before its shutdown snapshot, so that the snapshot holds every write
   * the log does. It never rejects; the log stays open (its owner closes it).
   */
  async close(): Promise<void> {
    this.closed = true;
    while (this.unsettled.size > 0) await Promise.allSettled([...this.unsettled]);
  }

  /** Why storage refused this leader's last append, if it did and no append has succeeded since (a shutdown snapshot is then not attempted). */
  get storageRefusal(): unknown {
    return this.refusal;
  }

  private closedError(): TidalError {
    return new TidalError('Closed', `shard ${this.shard}'s leader is closing`);
  }

  /** Keeps `work` among the unsettled until it settles. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.unsettled.add(work);
    const untrack = () => void this.unsettled.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /** `writeBatch` once the leader is known to be open. */
  private async admitBatch(
    requests: readonly WriteRequest[],
    answered: ((outcomes: readonly WriteOutcome[]) => void) | undefined,
  ): Promise<WriteOutcome[]> {
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
        const found = this.inFlight.lookUp(given, now);
        if (found?.kind === 'known') {
          outcomes.push(answer(found.token));
          continue;
        }
        // A new SeqNo whose key an earlier write carried: nothing of it is applied again, but its SeqNo
        // is used up in the log, as an empty write, or the session's next writes would wait behind a
        // gap that nothing fills (on this leader and on any that recovers the log).
        const request = found ? withoutEffect(given) : given;
        if (found) repeats.set(outcomes.length, answer(found.token));
        const steps = this.pendingSteps.check(request.ops);
        this.state.idempotency.admit(request, now);
        const pending = this.pendingSteps.reserve(request.ops, steps);
        const { event, logged } = stampWrite(request, { replica: this.replica, hlc: this.hlc, at: now });
        this.inFlight.add(request, { committed, index: admitted.length });
        outcomes.push({ ok: false, error: undefined }); // replaced once committed
        admitted.push({ index: outcomes.length - 1, event, logged, steps, pending });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    }
    if (admitted.length > 0) {
      let early = false;
      // Answered from the commit itself, before the batch is shipped, when every outcome is this batch's to give.
      const committedNow =
        answered && repeats.size === 0 && !outcomes.some((outcome) => outcome instanceof Promise)
          ? (range: LsnRange) => {
              admitted.forEach(({ index }, i) => (outcomes[index] = { ok: true, token: { shard: this.shard, lsn: range.first + i } }));
              early = true;
              answerNow(outcomes, answered);
            }
          : undefined;
      const results = await this.appendEvents(
        admitted.map((a) => a.logged),
        committedNow,
      );
      admitted.forEach(({ index }, i) => {
        const result = results[i]!;
        outcomes[index] =
          'lsn' in result
            ? (repeats.get(index) ?? { ok: true, token: { shard: this.shard, lsn: result.lsn } })
            : { ok: false, error: result.error };
      });
      if (answered && !early) answerNow(outcomes, answered);
      const lsns: (number | undefined)[] = [];
      admitted.forEach(({ event, steps, pending }, i) => {
        const result = results[i]!;
        this.pendingSteps.release(steps, pending);
        this.inFlight.remove(event);
        if ('lsn' in result) {
          this.state.applyEvent(result.lsn, event); // LSNs ascend with i: applied in log order; checked on admission
          this.pendingSteps.applied(steps);
          lsns.push(result.lsn);
          this.waiters.wake(result.lsn);
        } else {
          this.state.idempotency.abandon(event.session, event.seq);
          lsns.push(undefined);
        }
      });
      settle(lsns);
    } else if (answered) answerNow(outcomes, answered);
    return Promise.all(outcomes);
  }

  /**
   * Appends events as one batch: each event's LSN, or why it was not
   * appended. If one of them cannot be appended for what it holds, the
   * append refuses the lot before writing anything; the events are then
   * appended one by one (still one batch: same tick), and only the bad one
   * fails.
   */
  private async appendEvents(
    events: readonly Value[],
    committed?: (range: LsnRange) => void,
  ): Promise<({ lsn: number } | { error: unknown })[]> {
    try {
      const { first } = await this.wal.append(events, committed);
      this.refusal = undefined;
      return events.map((_, i) => ({ lsn: first + i }));
    } catch (error) {
      this.noteRefusal(error);
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
  mergeAll(imports: readonly { device: string; upTo: number; ops: readonly CrdtOperation[] }[]): Promise<LsnRange> {
    if (this.closed) return Promise.reject(this.closedError());
    return this.track(this.mergeNow(imports));
  }

  /**
   * Merges another device's snapshot `state` whole, as one batch with the
   * cursors it advances (docs/SYNC.md §9): the first of `cursors` gets a
   * state import event (`StateImportEvent`), which logs `bytes` (the state's
   * encoding, as the snapshot held it: nothing encoded again), each other
   * one an import event of no operations. `state` is `bytes` decoded; it is
   * handed over to this shard's state (do not use it after). The same
   * checks and refusals as `mergeAll`; the state's stamps move this
   * leader's clock as merged operations' do.
   *
   * `inPlace`: the buffer `bytes` views is the caller's to give away, and
   * the bytes around `bytes` in it may be overwritten. With room enough
   * there, the batch is built around `bytes` where they are (its header and
   * the event's head just in front, the other cursors' events just after:
   * `Wal.appendEncoded`), so the state is not copied before it is written;
   * else as without it.
   */
  mergeState(
    cursors: readonly { device: string; upTo: number }[],
    state: CrdtSignalState,
    bytes: Uint8Array,
    inPlace = false,
  ): Promise<LsnRange> {
    if (this.closed) return Promise.reject(this.closedError());
    return this.track(this.mergeStateNow(cursors, state, bytes, inPlace));
  }

  /** Notes an append that storage refused (see `storageRefusal`). */
  private noteRefusal(error: unknown): void {
    if (isTidalError(error, 'StorageFull') || isTidalError(error, 'StorageError')) this.refusal = error;
  }

  /** Refuses cursors `mergeAll` and `mergeState` must not append: none, a malformed one, one merged that far already, a device twice. */
  private checkCursors(cursors: readonly { device: string; upTo: number }[]): void {
    if (cursors.length === 0) throw new TidalError('InvalidArgument', 'a merge takes at least one device');
    const devices = new Set<string>();
    for (const { device, upTo } of cursors) {
      assertImportOrigin(device, upTo); // what the log would refuse to read back must not reach it
      const merged = Math.max(this.state.syncCursors.get(device) ?? 0, this.merging.get(device) ?? 0);
      if (upTo <= merged || devices.has(device)) {
        throw new TidalError('StaleWrite', `device ${device} is merged up to LSN ${merged} already, not again up to ${upTo}`);
      }
      devices.add(device);
    }
  }

  /**
   * Appends a merge's events (`logged`, or the append of their batch built already) as one batch, then applies them
   * (`applied`, the same events as read back).
   */
  private async appendMerge(
    cursors: readonly { device: string; upTo: number }[],
    logged: readonly Value[] | (() => Promise<LsnRange>),
    applied: readonly LogEvent[],
    counterSteps: number,
  ): Promise<LsnRange> {
    for (const { device, upTo } of cursors) this.merging.set(device, upTo);
    try {
      const append = typeof logged === 'function' ? logged() : this.wal.append(logged);
      const range = await append.catch((error: unknown) => {
        this.noteRefusal(error);
        throw error;
      });
      this.refusal = undefined;
      // Applied as built: every operation, the device and the cursor were checked before, as reading the event back would check them.
      applied.forEach((event, i) => this.state.applyEvent(range.first + i, event));
      this.pendingSteps.applied(counterSteps);
      this.waiters.wake(range.last);
      return range;
    } finally {
      for (const { device } of cursors) this.merging.delete(device);
    }
  }

  /** `mergeState` once the leader is known to be open. */
  private async mergeStateNow(
    cursors: readonly { device: string; upTo: number }[],
    state: CrdtSignalState,
    bytes: Uint8Array,
    inPlace: boolean,
  ): Promise<LsnRange> {
    this.checkCursors(cursors);
    let newest = 0n;
    let steps = 0;
    for (const [, entity] of state.entityEntries()) {
      const m = entity.maxHlc();
      if (m > newest) newest = m;
      // At most what the merge adds to the counters: the bound `pendingSteps` keeps may only be too high.
      if (entity.counters) {
        for (const counter of entity.counters.values()) {
          for (const replica of counter.replicas()) {
            const { increments, decrements } = counter.totalsOf(replica);
            steps += increments + decrements;
          }
        }
      }
    }
    if (newest > 0n) {
      this.receiveStamps(newest, (receive) => {
        for (const [, entity] of state.entityEntries())
          if (entity.fields) for (const register of entity.fields.values()) receive(register.hlc);
      });
    }
    const at = this.clock.now();
    const [first, ...others] = cursors;
    const applied: LogEvent[] = [{ t: STATE_IMPORT, device: first!.device, upTo: first!.upTo, at, state }];
    const imports = others.map(({ device, upTo }): ImportEvent => ({ t: 'import', device, upTo, at, ops: [] }));
    applied.push(...imports);
    // The batch built around the state where it already is (nothing of it copied), when its buffer has room.
    const batch = inPlace ? stateImportBatchInPlace(first!.device, first!.upTo, at, bytes, imports) : undefined;
    if (batch) return this.appendMerge(cursors, () => this.wal.appendEncoded(batch, cursors.length), applied, steps);
    const logged: Value[] = [loggedStateImport(first!.device, first!.upTo, at, bytes), ...(imports as unknown as Value[])];
    return this.appendMerge(cursors, logged, applied, steps);
  }

  /** `mergeAll` once the leader is known to be open. */
  private async mergeNow(imports: readonly { device: string; upTo: number; ops: readonly CrdtOperation[] }[]): Promise<LsnRange> {
    this.checkCursors(imports);
    let newest: bigint | undefined;
    for (const { ops } of imports) {
      for (const op of ops) {
        validateOperation(op);
        if (op.hlc !== undefined && (newest === undefined || op.hlc > newest)) newest = op.hlc;
      }
    }
    if (newest !== undefined) {
      this.receiveStamps(newest, (receive) => {
        for (const { ops } of imports) for (const op of ops) if (op.hlc !== undefined) receive(op.hlc);
      });
    }
    const at = this.clock.now();
    const events: ImportEvent[] = imports.map(({ device, upTo, ops }) => ({ t: 'import', device, upTo, at, ops }));
    return this.appendMerge(imports, events as unknown as Value[], events, counterSteps(imports));
  }

  /**
   * Moves this leader's clock past the stamps of merged operations: past
   * the `newest` at once, which puts it past every other; only if that one
   * is too far ahead (refused, the clock does not follow it) are the
   * others taken one by one, each as far as the drift bound allows.
   */
  private receiveStamps(newest: bigint, stamps: (receive: (hlc: bigint) => void) => void): void {
    try {
      this.hlc.receive(newest);
      return;
    } catch {
      // A remote clock too far ahead: the operation is merged as stamped, our clock does not follow it.
    }
    stamps((hlc) => {
      if (hlc === newest) return;
      try {
        this.hlc.receive(hlc);
      } catch {
        // As above: merged as stamped.
      }
    });
  }
}

/** Calls `answered` with `outcomes` if every one is known now (none waits on another write); its failure is its own. */
function answerNow(
  outcomes: readonly (WriteOutcome | Promise<WriteOutcome>)[],
  answered: (outcomes: readonly WriteOutcome[]) => void,
): void {
  for (const outcome of outcomes) if (outcome instanceof Promise) return;
  try {
    answered(outcomes as readonly WriteOutcome[]);
  } catch {
    // The caller's reply failed; the writes are committed and are applied regardless.
  }
}

/** The outcome of a write answered with another write's token. */
function answer(token: Promise<WriteToken>): Promise<WriteOutcome> {
  return token.then(
    (t): WriteOutcome => ({ ok: true, token: t }),
    (error: unknown): WriteOutcome => ({ ok: false, error }),
  );
}

/** The sum of the counter steps of `imports`' operations. */
function counterSteps(imports: readonly { ops: readonly CrdtOperation[] }[]): number {
  let steps = 0;
  for (const { ops } of imports) for (const op of ops) if (op.op === 'increment' || op.op === 'decrement') steps += op.by;
  return steps;
}
