/**
 * `SessionWriter`: a tab's side of the session bridge for one shard. It
 * numbers its writes (SeqNo 1, 2, 3, ...), keeps every unacknowledged one
 * in order, and resends them, unchanged, until the leader acknowledges
 * them: after a lost request or response, a worker restart, or a change of
 * leader (`setLink`). The leader's idempotency store drops what had in fact
 * landed, so each write takes effect exactly once.
 *
 *     const writer = new SessionWriter({ shard: 3, link: { write: (req) => leaderProxy.write(req) } });
 *     const token = await writer.write([{ op: 'increment', key: 'item:1', kind: 'view', by: 1 }]);
 *
 * The high-water mark (`highWaterMark`) is the highest SeqNo below which
 * every write is acknowledged; it travels with every request so the leader
 * can forget results the writer no longer needs.
 *
 * With `merge`, writes issued in the same tick without an idempotency key are **merged**
 * into one write (one SeqNo, one request, one WAL event), in call order:
 * the session's per-write work (numbering, the leader's idempotency check,
 * the event's session fields) is done once per tick, not once per call.
 * Each caller still gets its own promise (all resolve with the merged
 * write's token). Should the leader refuse a merged write for what it holds
 * (say a counter `Overflow`), its parts are sent again one by one, so that
 * only the refused part fails, as if they had never been merged.
 */
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import type { ShardId } from '../shard/shard-id.js';
import { fieldsOf, listed, requestOf, type WriteContent } from './write-content.js';
import {
  MAX_OPS_PER_WRITE,
  MAX_WRITE_BYTES,
  clientWriteBytes,
  type ClientOperation,
  type SeqNo,
  type SessionId,
  type WriteRequest,
  type WriteToken,
} from './write.js';

/** How a writer reaches its shard's leader (a comlink proxy, a direct call in tests). */
export interface SessionLink {
  /** Sends one request to the leader and resolves with its token; rejects with a `TidalError` (retryable codes are resent). */
  write(request: WriteRequest): Promise<WriteToken>;
}

/** Options of a `SessionWriter`. */
export interface SessionWriterOptions {
  /** The shard this writer writes to. */
  readonly shard: ShardId;
  /** How requests reach the shard's leader (replaced on failover with `setLink`). */
  readonly link: SessionLink;
  /** Fills a buffer with random bytes (the session id). Default `crypto.getRandomValues`. */
  readonly random?: (bytes: Uint8Array) => void;
  /** Wall clock and timers (session start times, resend delays). Default `systemClock`. */
  readonly clock?: Clock;
  /** Unacknowledged writes held at once; `write` waits for room beyond it. Default 1,024. */
  readonly maxUnacknowledged?: number;
  /** First delay before resending after a retryable failure; doubles up to `maxRetryDelayMs`. Default 20 ms. */
  readonly retryDelayMs?: number;
  /** Longest delay between resends (the doubling stops there). Default 2,000 ms. */
  readonly maxRetryDelayMs?: number;
  /** Merge a tick's writes without an idempotency key into one write. Default `false` (`openTidal` merges). */
  readonly merge?: boolean;
}

/** One caller's part of a write: its operations (one of them, as it is, for a single call) and its promise. */
interface WritePart {
  readonly ops: readonly ClientOperation[] | ClientOperation;
  /** The `settled` epoch it was issued in. */
  readonly epoch: number;
  /** Set once its promise is settled (it is counted once). */
  done: boolean;
  resolve(token: WriteToken): void;
  reject(error: unknown): void;
}

interface PendingWrite {
  request: WriteRequest;
  /** Its operations (a count of 0: a gap filler). */
  readonly content: WriteContent;
  /** The callers whose operations the request holds (several when merged; none for a gap filler). */
  readonly parts: readonly WritePart[];
}

/** Failures after which the same request may be sent again. */
const RETRYABLE = new Set(['Closed', 'Timeout', 'StorageError', 'SeqGap', 'UnknownPeer', 'WrongShard']);

/** A part's operations as a list of their own. */
function opsOf(part: WritePart): ClientOperation[] {
  return Array.isArray(part.ops) ? [...(part.ops as readonly ClientOperation[])] : [part.ops as ClientOperation];
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Exactly-once writes from one tab to one shard. */
export class SessionWriter {
  /** The shard this writer writes to. */
  readonly shard: ShardId;
  private sessionId: SessionId;
  private sessionStartedAt: number;
  private link: SessionLink;
  private readonly random: (bytes: Uint8Array) => void;
  private readonly clock: Clock;
  private readonly maxUnacknowledged: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private nextSeq: SeqNo = 1;
  private hwm: SeqNo = 0;
  /** Unacknowledged writes by SeqNo (a Map keeps them in order). */
  private readonly pending = new Map<SeqNo, PendingWrite>();
  /** Acknowledged SeqNos above the high-water mark (acks can arrive out of order after resends). */
  private readonly ackedAbove = new Set<SeqNo>();
  private readonly roomWaiters: (() => void)[] = [];
  private retryDelay: number;
  private retryTimer: TimerHandle | undefined;
  private closed = false;
  /** What `close` was given: writes after it, and those it cut short, reject with it. */
  private closedReason: TidalError | undefined;
  /** Highest LSN this session has seen acknowledged or read, for monotonic reads. */
  private seenLsn = 0;
  private readonly merge: boolean;
  /** This tick's writes without an idempotency key, merged into one write when the tick ends. */
  private forming: { ops: ClientOperation[]; parts: WritePart[]; bytes: number } | undefined;
  /**
   * Callers' parts not yet settled: those of the current epoch, and of earlier ones by epoch, oldest
   * first (`settled` starts a new epoch). A count instead of a hook on every caller's promise, which
   * cost a promise reaction per write.
   */
  private unsettledNow = 0;
  private readonly unsettledBefore = new Map<number, number>();
  private epoch = 0;
  /** `settled` calls waiting, by epoch (ascending). */
  private readonly settledWaiters: { readonly epoch: number; resolve(): void }[] = [];

  /** Starts a new session (a fresh random id) for `options.shard`; nothing is sent until the first `write`. */
  constructor(options: SessionWriterOptions) {
    this.shard = options.shard;
    this.link = options.link;
    this.random = options.random ?? ((bytes) => crypto.getRandomValues(bytes));
    this.clock = options.clock ?? systemClock;
    this.maxUnacknowledged = integerOption('SessionWriter maxUnacknowledged', options.maxUnacknowledged, { min: 1, default: 1024 });
    this.retryDelayMs = integerOption('SessionWriter retryDelayMs', options.retryDelayMs, { min: 0, default: 20 });
    this.maxRetryDelayMs = integerOption('SessionWriter maxRetryDelayMs', options.maxRetryDelayMs, {
      min: this.retryDelayMs,
      default: Math.max(2000, this.retryDelayMs),
    });
    this.retryDelay = this.retryDelayMs;
    this.merge = options.merge ?? false;
    this.sessionId = this.newSessionId();
    this.sessionStartedAt = this.clock.now();
  }

  /** The session's id (changes only if the leader forgot the session). */
  get id(): SessionId {
    return this.sessionId;
  }

  /** Every SeqNo up to this one is acknowledged. */
  get highWaterMark(): SeqNo {
    return this.hwm;
  }

  /** Writes sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.pending.size;
  }

  /** The highest LSN of this shard this session has seen: pass it as `after` to read monotonically. */
  get lastSeenLsn(): number {
    return this.seenLsn;
  }

  /** Resolves once every write issued before the call has settled (acknowledged or refused). */
  settled(): Promise<void> {
    if (this.unsettledNow === 0 && this.unsettledBefore.size === 0) return Promise.resolve();
    const epoch = this.epoch++;
    if (this.unsettledNow > 0) this.unsettledBefore.set(epoch, this.unsettledNow);
    this.unsettledNow = 0;
    return new Promise<void>((resolve) => this.settledWaiters.push({ epoch, resolve }));
  }

  /** Records an LSN seen by a read, so later reads never go behind it. */
  observe(lsn: number): void {
    if (lsn > this.seenLsn) this.seenLsn = lsn;
  }

  /**
   * Sends a write; resolves with its token once the leader acknowledges it
   * (after flush, in durable mode). Invalid operations are refused here,
   * before a SeqNo is spent.
   */
  async write(ops: readonly ClientOperation[], options: { idempotencyKey?: string } = {}): Promise<WriteToken> {
    if (this.closed) throw this.closedError();
    const bytes = clientWriteBytes(ops, options.idempotencyKey);
    return this.writeChecked(ops, { ...options, bytes });
  }

  /**
   * `write` for operations the caller has checked (`validateClientOperation`,
   * at most `MAX_OPS_PER_WRITE`, at most `MAX_WRITE_BYTES` by the bound those
   * checks return, passed as `bytes`): a batch checks its operations once,
   * as they are added, and sends them without a second pass. Writes merged
   * in a tick stay within both bounds; without `bytes`, a write is merged
   * with none other.
   */
  writeChecked(ops: readonly ClientOperation[], options: { idempotencyKey?: string; bytes?: number } = {}): Promise<WriteToken> {
    if (this.closed) return Promise.reject(this.closedError());
    if (options.idempotencyKey === undefined && this.merge) {
      const bytes = options.bytes ?? MAX_WRITE_BYTES;
      return new Promise<WriteToken>((resolve, reject) => {
        if (this.forming && (this.forming.ops.length + ops.length > MAX_OPS_PER_WRITE || this.forming.bytes + bytes > MAX_WRITE_BYTES))
          this.seal();
        if (!this.forming) {
          this.forming = { ops: [], parts: [], bytes: 0 };
          queueMicrotask(() => this.seal());
        }
        for (let i = 0; i < ops.length; i++) this.forming.ops.push(ops[i]!);
        this.forming.bytes += bytes;
        this.forming.parts.push(this.part(ops, resolve, reject));
      });
    }
    this.seal(); // the tick's earlier writes go first
    return new Promise<WriteToken>((resolve, reject) => {
      void this.submit(listed([...ops]), [this.part(ops, resolve, reject)], options.idempotencyKey);
    });
  }

  /**
   * `writeChecked` of one operation the caller has checked, its bytes bound
   * `bytes` (what `validateBuiltOperation` returns): `db.increment`/`set`/`add`.
   * Merged as `writeChecked` merges, with no list or options object built
   * per call for it (a tick of the per-call path issues a thousand).
   */
  writeOne(op: ClientOperation, bytes: number, idempotencyKey?: string): Promise<WriteToken> {
    if (idempotencyKey !== undefined || !this.merge)
      return this.writeChecked([op], { ...(idempotencyKey !== undefined ? { idempotencyKey } : {}), bytes });
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<WriteToken>((resolve, reject) => {
      if (this.forming && (this.forming.ops.length + 1 > MAX_OPS_PER_WRITE || this.forming.bytes + bytes > MAX_WRITE_BYTES)) this.seal();
      if (!this.forming) {
        this.forming = { ops: [], parts: [], bytes: 0 };
        queueMicrotask(() => this.seal());
      }
      this.forming.ops.push(op);
      this.forming.bytes += bytes;
      this.forming.parts.push(this.part(op, resolve, reject));
    });
  }

  /**
   * `writeChecked` of `count` operations already encoded as their version-3
   * block (`OpsBlockV3Builder`), checked as `writeChecked` requires: one write
   * of its own, never merged with others (`db.transact`'s part of a shard).
   * The request carries the block as it is; its `ops` are decoded from it
   * only if something asks for them (a link that is not a write frame).
   */
  writeEncoded(block: Uint8Array, count: number, options: { idempotencyKey?: string } = {}): Promise<WriteToken> {
    if (this.closed) return Promise.reject(this.closedError());
    this.seal(); // the tick's earlier writes go first
    return new Promise<WriteToken>((resolve, reject) => {
      void this.submit({ block, count }, [this.part([], resolve, reject)], options.idempotencyKey);
    });
  }

  /** A caller's part, counted as unsettled in the current epoch. */
  private part(
    ops: readonly ClientOperation[] | ClientOperation,
    resolve: (token: WriteToken) => void,
    reject: (error: unknown) => void,
  ): WritePart {
    this.unsettledNow++;
    return { ops, epoch: this.epoch, done: false, resolve, reject };
  }

  private resolvePart(part: WritePart, token: WriteToken): void {
    if (part.done) return;
    part.resolve(token);
    this.partSettled(part);
  }

  private rejectPart(part: WritePart, error: unknown): void {
    if (part.done) return;
    part.reject(error);
    this.partSettled(part);
  }

  /** Counts a part settled (after its caller's reactions are queued), and wakes the `settled` calls it completes. */
  private partSettled(part: WritePart): void {
    part.done = true;
    if (part.epoch === this.epoch) {
      this.unsettledNow--;
      return; // no `settled` call waits for the current epoch
    }
    const left = this.unsettledBefore.get(part.epoch)! - 1;
    if (left > 0) {
      this.unsettledBefore.set(part.epoch, left);
      return;
    }
    this.unsettledBefore.delete(part.epoch);
    // A Map iterates in insertion order and epochs only grow: the first key is the oldest unsettled one.
    const oldest = this.unsettledBefore.keys().next();
    while (this.settledWaiters.length > 0 && (oldest.done === true || this.settledWaiters[0]!.epoch < oldest.value))
      this.settledWaiters.shift()!.resolve();
  }

  /** Sends the writes merged so far this tick as one write. */
  private seal(): void {
    const forming = this.forming;
    this.forming = undefined;
    if (forming && !this.closed) void this.submit(listed(forming.ops), forming.parts, undefined);
    else if (forming) for (const part of forming.parts) this.rejectPart(part, this.closedError());
  }

  /** Numbers a write (once there is room) and sends it. */
  private async submit(content: WriteContent, parts: readonly WritePart[], idempotencyKey: string | undefined): Promise<void> {
    while (this.pending.size >= this.maxUnacknowledged && !this.closed)
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    if (this.closed) {
      for (const part of parts) this.rejectPart(part, this.closedError());
      return;
    }
    const seq = this.nextSeq++;
    const fields = {
      session: this.sessionId,
      startedAt: this.sessionStartedAt,
      seq,
      acked: this.hwm,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    };
    const request = requestOf(fields, content);
    this.pending.set(seq, { request, content, parts });
    this.send(request);
  }

  /** Points the writer at a new leader (or a restarted worker) and resends every unacknowledged write, in order. */
  setLink(link: SessionLink): void {
    this.link = link;
    this.resend();
  }

  /** Resends every unacknowledged write, in order. */
  resend(): void {
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const { request, content } of [...this.pending.values()]) this.send(requestOf({ ...fieldsOf(request), acked: this.hwm }, content));
  }

  private closedError(): TidalError {
    return this.closedReason ?? new TidalError('Closed', `session writer for shard ${this.shard} is closed`);
  }

  /**
   * Stops: unacknowledged writes reject with `Closed`, or with `reason` when one is given (they may or
   * may not have been applied).
   */
  close(reason?: TidalError): void {
    this.closed = true;
    this.closedReason = reason;
    this.seal();
    this.clock.clearTimeout(this.retryTimer);
    for (const [, write] of this.pending) {
      const error =
        this.closedReason ?? new TidalError('Closed', `session writer closed before write ${write.request.seq} was acknowledged`);
      for (const part of write.parts) this.rejectPart(part, error);
    }
    this.pending.clear();
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  private send(request: WriteRequest): void {
    this.link.write(request).then(
      (token) => this.acknowledged(request, token),
      (error: unknown) => this.failed(request, error),
    );
  }

  private acknowledged(request: WriteRequest, token: WriteToken): void {
    const write = this.pending.get(request.seq);
    if (!write || write.request.session !== request.session) return; // a late answer to a resend
    this.pending.delete(request.seq);
    this.ackedAbove.add(request.seq);
    while (this.ackedAbove.delete(this.hwm + 1)) this.hwm++;
    this.observe(token.lsn);
    this.retryDelay = this.retryDelayMs;
    for (const part of write.parts) this.resolvePart(part, token);
    this.roomWaiters.shift()?.();
  }

  private failed(request: WriteRequest, error: unknown): void {
    const write = this.pending.get(request.seq);
    if (this.closed || !write || write.request.session !== request.session) return;
    const code = isTidalError(error) ? error.code : undefined;
    if (code === 'StaleWrite') {
      // The leader says it was applied and acknowledged before; without its token we can only report that.
      this.pending.delete(request.seq);
      this.ackedAbove.add(request.seq);
      while (this.ackedAbove.delete(this.hwm + 1)) this.hwm++;
      for (const part of write.parts) this.rejectPart(part, error);
      return;
    }
    if (code === 'SessionExpired') {
      this.restartSession(error);
      return;
    }
    if (code !== undefined && RETRYABLE.has(code)) {
      this.scheduleResend();
      return;
    }
    // Refused for what it is (e.g. InvalidArgument): the SeqNo is filled with an empty write so
    // that the session's later writes are not held behind a gap. A single write's caller learns
    // why; a merged write's parts are sent again one by one, so that only the refused one fails.
    const gap = listed([]);
    this.pending.set(request.seq, { request: requestOf({ ...fieldsOf(request), acked: this.hwm }, gap), content: gap, parts: [] });
    if (write.parts.length === 1) this.rejectPart(write.parts[0]!, error);
    else for (const part of write.parts) void this.submit(listed(opsOf(part)), [part], undefined);
    this.scheduleResend();
  }

  /**
   * The leader forgot this session: writes that were unacknowledged may or
   * may not have been applied. Those carrying an idempotency key are safe
   * to retry and move to a new session; the others fail with the error.
   */
  private restartSession(error: unknown): void {
    const carried = [...this.pending.values()].filter((w) => w.request.idempotencyKey !== undefined && w.content.count > 0);
    for (const write of this.pending.values()) if (!carried.includes(write)) for (const part of write.parts) this.rejectPart(part, error);
    this.pending.clear();
    this.ackedAbove.clear();
    this.sessionId = this.newSessionId();
    this.sessionStartedAt = this.clock.now();
    this.nextSeq = 1;
    this.hwm = 0;
    for (const write of carried) {
      const seq = this.nextSeq++;
      const fields = { ...fieldsOf(write.request), session: this.sessionId, startedAt: this.sessionStartedAt, seq, acked: 0 };
      const request = requestOf(fields, write.content);
      this.pending.set(seq, { request, content: write.content, parts: write.parts });
      this.send(request);
    }
  }

  private scheduleResend(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.resend();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, this.maxRetryDelayMs);
  }

  private newSessionId(): SessionId {
    const bytes = new Uint8Array(16);
    this.random(bytes);
    return hex(bytes);
  }
}
