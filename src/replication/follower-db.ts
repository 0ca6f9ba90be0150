/**
 * `FollowerDb`: a replica of one shard, fed by the leader's `WalShipper`.
 *
 *     const follower = await FollowerDb.open({ storage, shard: 3, transport, leader: 3, stateMachine });
 *     await follower.whenApplied(lsn);
 *     follower.appliedLsn; follower.lag; follower.counters;
 *
 * Every payload is verified with BLAKE3 before a single event is parsed,
 * hashing views of the received buffer (no copies); a payload that fails is
 * rejected and asked for again. Events are applied in LSN order, exactly
 * once: a duplicate is acknowledged and ignored, a gap is asked for (a few
 * payloads that arrive early are held until it fills). The follower keeps
 * its own byte-for-byte copy of the leader's log on its own storage, so it
 * survives restarts (it replays its log into the state machine on open and
 * resumes from there) and can be promoted to leader.
 */
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from '../transport/address.js';
import type { ReceivedSegment, Transport } from '../transport/transport.js';
import { decodePayload, type Value } from '../wal/payload.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal, type RecoveryReport } from '../wal/wal.js';
import { decodeControl, encodeControl, type RequestReason } from './messages.js';
import { systemScheduler, type Scheduler } from './scheduler.js';
import { isWholeSegment, verifyPayload, type VerifiedPayloadBatch } from './verify-payload.js';
import type { StateMachine } from './state-machine.js';

/** Options of `FollowerDb.open`. */
export interface FollowerDbOptions {
  /** Where the follower keeps its copy of the log. */
  readonly storage: WalStorage;
  /** The shard this follower replicates. */
  readonly shard: ShardId;
  /** The follower's link; the follower owns it from now on and closes it on `close` or `promote`. */
  readonly transport: Transport;
  /** The leader's address; payloads from anyone else are dropped. */
  readonly leader: TransportAddress;
  /**
   * What the events are applied to. Without one, the follower keeps its
   * copy of the log and its applied LSN only: payloads are verified, and
   * their events are not decoded.
   */
  readonly stateMachine?: StateMachine;
  /** Flush the copy before acknowledging. Default `true`. */
  readonly durable?: boolean;
  /** Segment size bound of the copy (keep it equal to the leader's for identical segments). Default 4 MiB. */
  readonly segmentBytes?: number;
  /** Ask again when the leader is ahead and nothing arrived for this long. Default 1000 ms. */
  readonly stallTimeoutMs?: number;
  /** The same request is not repeated sooner than this. Default 100 ms. */
  readonly requestIntervalMs?: number;
  /** Payloads that arrive ahead of a gap and are held until it fills. Default 16. */
  readonly maxHeldPayloads?: number;
  /** Clock and periodic timer (stall checks, request pacing). Default `systemScheduler`. */
  readonly scheduler?: Scheduler;
}

/** What a follower has seen since it was opened. */
export interface FollowerCounters {
  /** Bytes whose BLAKE3 digests were checked and matched. */
  bytesVerified: number;
  /** Payloads verified and applied. */
  payloadsApplied: number;
  /** Events applied to the state machine (not counting the replay on open). */
  eventsApplied: number;
  /** Payloads refused: failed digest, malformed, inconsistent with their own metadata. */
  payloadsRejected: number;
  /** Payloads holding nothing new (already applied). */
  duplicates: number;
  /** Payloads that arrived after a gap. */
  gaps: number;
  /** Requests sent to the leader. */
  requests: number;
  /** Messages from someone other than the leader, and control messages that did not decode. */
  foreign: number;
}

/** How far behind the leader the follower is. */
export interface FollowerLag {
  /** The leader's last LSN as last heard, minus `appliedLsn` (0 when unknown or caught up). */
  readonly lsns: number;
  /** Wall-clock time from the leader's commit of the last applied batch to its apply here. */
  readonly ms: number;
}

interface VerifiedBatch extends VerifiedPayloadBatch {
  readonly events: Value[];
}

/** A read-only replica of one shard, kept up to date by the leader's shipper. */
export class FollowerDb {
  /** The shard this follower replicates. */
  readonly shard: ShardId;
  /** What the follower has verified, applied and refused so far (live; read it, do not write it). */
  readonly counters: FollowerCounters = {
    bytesVerified: 0,
    payloadsApplied: 0,
    eventsApplied: 0,
    payloadsRejected: 0,
    duplicates: 0,
    gaps: 0,
    requests: 0,
    foreign: 0,
  };
  /** What opening the follower's own log found. */
  readonly recovery: RecoveryReport;
  private leader: PeerAddress;
  private readonly stallTimeoutMs: number;
  private readonly requestIntervalMs: number;
  private readonly maxHeldPayloads: number;
  private readonly scheduler: Scheduler;
  private applied: number;
  private leaderLastLsn = 0;
  private lagMs = 0;
  private lastProgressAt: number;
  private lastRequest = { fromLsn: 0, at: -Infinity };
  /** Verified payloads that arrived ahead of a gap, by first LSN. */
  private readonly held = new Map<number, VerifiedBatch[]>();
  private readonly waiters: { lsn: number; resolve(): void; reject(error: TidalError): void }[] = [];
  private state: 'following' | 'promoted' | 'closed' = 'following';
  /** The payload being applied, so that `promote` and `close` wait for it. */
  private applying: Promise<void> = Promise.resolve();
  private readonly stopTimer: () => void;
  private readonly wal: Wal;
  private readonly b3: Blake3;
  private readonly transport: Transport;
  private readonly stateMachine: StateMachine | undefined;

  private constructor(
    wal: Wal,
    b3: Blake3,
    transport: Transport,
    stateMachine: StateMachine | undefined,
    options: FollowerDbOptions,
    recovery: RecoveryReport,
  ) {
    this.wal = wal;
    this.b3 = b3;
    this.transport = transport;
    this.stateMachine = stateMachine;
    this.shard = options.shard;
    this.recovery = recovery;
    this.leader = toPeerAddress(options.leader, 'leader');
    this.stallTimeoutMs = options.stallTimeoutMs ?? 1000;
    this.requestIntervalMs = options.requestIntervalMs ?? 100;
    this.maxHeldPayloads = options.maxHeldPayloads ?? 16;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.applied = wal.lastLsn;
    this.lastProgressAt = this.scheduler.now();
    this.stopTimer = this.scheduler.every(Math.max(10, this.stallTimeoutMs / 2), () => this.checkStall());
  }

  /**
   * Opens the follower: recovers its copy of the log, replays it into the
   * state machine, and asks the leader for everything after it.
   */
  static async open(options: FollowerDbOptions): Promise<FollowerDb> {
    const [b3, { wal, report }] = await Promise.all([
      loadBlake3(),
      Wal.open(options.storage, {
        shard: options.shard,
        durable: options.durable ?? true,
        ...(options.segmentBytes ? { segmentBytes: options.segmentBytes } : {}),
      }),
    ]);
    if (wal.missingRanges().length > 0) {
      // A copy with holes cannot be replayed in order: refuse it rather than apply part of it.
      await wal.close();
      throw new TidalError(
        'Corrupt',
        `follower copy of shard ${options.shard} has lost LSNs ${JSON.stringify(wal.missingRanges())}; remove it and let it be rebuilt from the leader`,
      );
    }
    const stateMachine = options.stateMachine;
    // Wal.open has just verified every byte of the copy: the replay checks structure only.
    if (stateMachine) for await (const { lsn, event } of wal.read(1, { verify: false })) stateMachine.apply(lsn, event);
    const follower = new FollowerDb(wal, b3, options.transport, options.stateMachine, options, report);
    void follower.segmentLoop();
    void follower.controlLoop();
    follower.reintroduce();
    return follower;
  }

  /** The last LSN applied to the state machine (and held in the follower's own log). */
  get appliedLsn(): number {
    return this.applied;
  }

  /** How far behind: in LSNs, and the commit-to-apply delay of the last batch applied (0 once caught up). */
  get lag(): FollowerLag {
    const lsns = Math.max(0, this.leaderLastLsn - this.applied);
    return { lsns, ms: lsns === 0 ? 0 : this.lagMs };
  }

  /** The leader this follower follows. */
  get leaderAddress(): PeerAddress {
    return this.leader;
  }

  /**
   * Follows another leader of the same shard (after a failover: its log
   * continues the same LSNs), asking it for everything after `appliedLsn`.
   */
  setLeader(leader: TransportAddress): void {
    const next = toPeerAddress(leader, 'leader');
    if (sameAddress(next, this.leader)) return;
    this.leader = next;
    this.held.clear();
    this.leaderLastLsn = this.applied;
    this.reintroduce();
  }

  /**
   * Introduces the follower to its leader again (a leader that restarted
   * knows nothing of it): asks for everything after `appliedLsn`.
   */
  reintroduce(): void {
    this.lastRequest = { fromLsn: 0, at: -Infinity };
    this.request('hello');
    this.lastStatusAt = this.scheduler.now(); // give the leader a stall timeout to answer before asking again
  }

  /**
   * Resolves once `lsn` is applied here; rejects with `Timeout` after
   * `timeoutMs`, or `Closed` if the follower closes first.
   */
  whenApplied(lsn: number, timeoutMs = 10_000): Promise<void> {
    if (lsn <= this.applied) return Promise.resolve();
    if (this.state !== 'following') return Promise.reject(new TidalError('Closed', `follower of shard ${this.shard} is ${this.state}`));
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        lsn,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: TidalError) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new TidalError(
            'Timeout',
            `follower of shard ${this.shard} did not reach LSN ${lsn} within ${timeoutMs} ms (applied ${this.applied})`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /**
   * Stops following and hands over the follower's log, which continues the
   * leader's LSN sequence: the caller makes it the shard's leader (with a
   * `WalShipper` of its own). The follower's transport is closed. With
   * `catchUpFrom`, it first applies what the old leader's log holds beyond
   * what was shipped.
   */
  async promote(options: { catchUpFrom?: Wal } = {}): Promise<Wal> {
    if (this.state !== 'following') throw new TidalError('Closed', `follower of shard ${this.shard} is already ${this.state}`);
    this.state = 'promoted';
    this.stop();
    await this.applying;
    if (options.catchUpFrom) await this.catchUp(options.catchUpFrom);
    return this.wal;
  }

  /**
   * Applies what `source` (the old leader's log, reopened from its storage
   * once its worker is gone) holds beyond `appliedLsn`: acknowledged writes
   * the leader had not shipped yet are not lost by the failover.
   */
  private async catchUp(source: Wal): Promise<void> {
    if (source.shard !== this.shard)
      throw new TidalError('WrongShard', `cannot catch up shard ${this.shard} from the log of shard ${source.shard}`);
    if (source.lastLsn <= this.applied) return;
    for await (const batch of source.readBatches(this.applied + 1)) {
      // readBatches verified the digest; the events are decoded before anything is applied.
      if (batch.lastLsn <= this.applied) continue;
      const eventCount = batch.lastLsn - batch.firstLsn + 1;
      await this.apply([
        {
          firstLsn: batch.firstLsn,
          lastLsn: batch.lastLsn,
          eventCount,
          hlc: batch.header.hlc,
          bytes: batch.bytes,
          payload: batch.payload,
          events: this.stateMachine ? decodePayload(batch.payload, eventCount) : [],
        },
      ]);
    }
  }

  /** Stops following and closes the follower's log and transport. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasFollowing = this.state === 'following';
    this.state = 'closed';
    this.stop();
    await this.applying;
    if (wasFollowing) await this.wal.close();
  }

  private stop(): void {
    this.stopTimer();
    this.transport.close();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new TidalError('Closed', `follower of shard ${this.shard} stopped (${this.state}) before LSN ${waiter.lsn}`));
    }
  }

  private async segmentLoop(): Promise<void> {
    for (;;) {
      const segment = await this.transport.recvSegment();
      if (segment === null || this.state !== 'following') return;
      const done = this.receive(segment);
      this.applying = done.catch(() => undefined);
      try {
        await done;
      } catch (error) {
        // The follower's own log failed (storage): it cannot apply anything more.
        this.failure = isTidalError(error) ? error : new TidalError('StorageError', String(error), { cause: error });
        if (this.state === 'following') {
          this.state = 'closed';
          this.stop();
          await this.wal.close();
        }
        return;
      }
    }
  }

  /** Why the follower stopped on its own, if it did (its log failed). */
  get failed(): TidalError | undefined {
    return this.failure;
  }

  private failure: TidalError | undefined;

  private async controlLoop(): Promise<void> {
    for (;;) {
      const message = await this.transport.recvControl();
      if (message === null || this.state !== 'following') return;
      let body;
      try {
        body = decodeControl(message.bytes);
      } catch {
        this.counters.foreign++;
        continue;
      }
      if (!sameAddress(message.from, this.leader) || body.type !== 'status' || body.shard !== this.shard) {
        this.counters.foreign++;
        continue;
      }
      this.leaderLastLsn = Math.max(this.leaderLastLsn, body.lastLsn);
      this.lastStatusAt = this.scheduler.now();
      if (body.lastLsn > this.applied && this.lastProgressAt < this.scheduler.now() - this.stallTimeoutMs) this.request('stalled');
    }
  }

  private checkStall(): void {
    if (this.state !== 'following') return;
    const now = this.scheduler.now();
    if (now - this.lastStatusAt > this.stallTimeoutMs) {
      // The leader's heartbeats do not reach us: it does not know of us (our hello was lost, or it
      // restarted, or it only now took the lead). Introduce ourselves again.
      this.reintroduce();
    } else if (this.leaderLastLsn > this.applied && now - this.lastProgressAt > this.stallTimeoutMs) {
      this.request('stalled');
    }
  }

  /** When the leader's last status heartbeat arrived. */
  private lastStatusAt = -Infinity;

  private async receive(segment: ReceivedSegment): Promise<void> {
    if (!sameAddress(segment.from, this.leader)) {
      this.counters.foreign++;
      return;
    }
    let batches: VerifiedBatch[];
    try {
      batches = this.verify(segment);
    } catch (error) {
      if (!isTidalError(error)) throw error;
      this.counters.payloadsRejected++;
      this.request('rejected');
      return;
    }
    const last = batches[batches.length - 1]!;
    this.leaderLastLsn = Math.max(this.leaderLastLsn, last.lastLsn);
    if (last.lastLsn <= this.applied) {
      this.counters.duplicates++;
      this.ack();
      return;
    }
    const fresh = batches.filter((b) => b.lastLsn > this.applied);
    if (fresh[0]!.firstLsn !== this.applied + 1) {
      if (fresh[0]!.firstLsn <= this.applied) {
        // Batches are the unit of the log on both sides: one straddling our applied LSN is not the leader's.
        this.counters.payloadsRejected++;
        this.request('rejected');
        return;
      }
      this.counters.gaps++;
      if (this.held.size < this.maxHeldPayloads) this.held.set(fresh[0]!.firstLsn, fresh);
      this.request('gap');
      return;
    }
    // A whole sealed segment that starts right where we are is stored in one write.
    const whole = fresh.length === batches.length && isWholeSegment(segment) ? segment : undefined;
    await this.apply(fresh, whole);
    // Payloads that arrived early may follow on now.
    for (let next = this.held.get(this.applied + 1); next; next = this.held.get(this.applied + 1)) {
      this.held.delete(next[0]!.firstLsn);
      await this.apply(next);
    }
    for (const key of [...this.held.keys()]) if (key <= this.applied) this.held.delete(key);
    this.ack();
  }

  /**
   * Verifies a payload and decodes its events, all before anything is
   * applied. Throws a `TidalError` saying what is wrong.
   */
  private verify(segment: ReceivedSegment): VerifiedBatch[] {
    const verified = verifyPayload(this.b3, segment, this.shard);
    // With a state machine, every event is decoded now: nothing is applied unless all of it decodes.
    const batches = verified.map((batch) => ({
      ...batch,
      events: this.stateMachine ? decodePayload(batch.payload, batch.eventCount) : [],
    }));
    this.counters.bytesVerified += segment.bytes.byteLength;
    return batches;
  }

  private async apply(batches: VerifiedBatch[], whole?: ReceivedSegment): Promise<void> {
    let stored = false;
    if (whole) {
      try {
        await this.wal.importSealedSegment(whole.id, new Uint8Array(whole.bytes));
        stored = true;
      } catch (error) {
        if (!isTidalError(error, 'HeaderMismatch')) throw error; // not at a segment boundary: batch by batch
      }
    }
    if (!stored) await this.wal.importBatches(batches.map((b) => b.bytes));
    for (const batch of batches) {
      const stateMachine = this.stateMachine;
      if (stateMachine) for (let i = 0; i < batch.events.length; i++) stateMachine.apply(batch.firstLsn + i, batch.events[i]!);
      this.counters.eventsApplied += batch.eventCount;
    }
    const last = batches[batches.length - 1]!;
    this.applied = last.lastLsn;
    const now = this.scheduler.now();
    if (last.hlc > 0n) this.lagMs = Math.max(0, now - Number(last.hlc >> 16n));
    this.lastProgressAt = now;
    this.counters.payloadsApplied++;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.lsn <= this.applied) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  private ack(): void {
    this.send(encodeControl({ type: 'ack', shard: this.shard, appliedLsn: this.applied }));
  }

  private request(reason: RequestReason): void {
    const fromLsn = this.applied + 1;
    const now = this.scheduler.now();
    if (this.lastRequest.fromLsn === fromLsn && now - this.lastRequest.at < this.requestIntervalMs) return;
    this.lastRequest = { fromLsn, at: now };
    this.counters.requests++;
    this.send(encodeControl({ type: 'request', shard: this.shard, fromLsn, reason }));
  }

  private send(bytes: Uint8Array): void {
    this.transport.sendControl(this.leader, bytes).catch(() => undefined); // lost acks are recovered by timeouts
  }
}
