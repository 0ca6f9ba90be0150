/**
 * `FollowerDb`: a replica of one shard, fed by the leader's `WalShipper`.
 *
 *     const follower = await FollowerDb.open({ shard: 3, transport, leader: 3, stateMachine });
 *     await follower.whenApplied(lsn);
 *     follower.appliedLsn; follower.lag; follower.counters;
 *
 * Every payload is verified with BLAKE3 before a single event is parsed,
 * hashing views of the received buffer (no copies); a payload that fails is
 * rejected and asked for again. Events are applied in LSN order, exactly
 * once: a duplicate is acknowledged and ignored, a gap is asked for (a few
 * payloads that arrive early are held until it fills). Payloads applied
 * close together are acknowledged once (`ackDelayMs`): an acknowledgement
 * covers every LSN up to it. With `storage`, the follower keeps its own
 * byte-for-byte copy of the leader's log, so it survives restarts (it
 * replays its log into the state machine on open and resumes from there)
 * and can be promoted to leader; without, it holds nothing per event but
 * its state.
 *
 * A follower the log alone cannot bring up to date (it is behind the
 * oldest segment its leader kept, or it starts empty) is sent the leader's
 * snapshot instead, in chunks (docs/FORMAT.md §7.3, `snapshot-receiver.ts`):
 * verified whole before anything of it is installed, then installed as a
 * fresh state machine (`snapshots.restore`) and a log that starts over
 * after the snapshot's LSN, which the leader's log then continues.
 *
 * What each payload is put through is in `follower-receive.ts` (the segment
 * loop) and `follower-snapshot-install.ts` (a shipped snapshot); this file
 * holds the follower's state, its lifecycle (open, promote, close), its
 * requests and acknowledgements, and the leader's heartbeats.
 */
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import type { RecoveryReport, Wal } from '../wal/wal.js';
import { openFollowerCopy } from './follower-copy.js';
import {
  checkFollowerOptions,
  newFollowerCounters,
  type FollowerCounters,
  type FollowerDbOptions,
  type FollowerLag,
} from './follower-options.js';
import { FollowerSnapshots } from './follower-snapshots.js';
import { GroupedAcks } from './grouped-acks.js';
import { HeldPayloads } from './held-payloads.js';
import { LeaderStatus } from './leader-status.js';
import { LsnWaiters } from './lsn-waiters.js';
import { decodeControl, encodeControl, type RequestReason } from './messages.js';
import { SegmentReceiver, type VerifiedBatch } from './follower-receive.js';
import type { StateMachine } from './state-machine.js';
import { prepareVerifiedEvents } from './verify-payload.js';

export type { FollowerCounters, FollowerDbOptions, FollowerLag, FollowerSnapshotOptions } from './follower-options.js';

/** What a follower without a copy of the log recovered on open: nothing. */
const NO_COPY: RecoveryReport = { segments: 0, batches: 0, events: 0, bytes: 0, deferredSegments: 0, bytesCut: 0, issues: [], lastLsn: 0 };

/** A read-only replica of one shard, kept up to date by the leader's shipper. */
export class FollowerDb {
  /** The shard this follower replicates. */
  readonly shard: ShardId;
  /** What the follower has verified, applied and refused so far (live; read it, do not write it). */
  readonly counters: FollowerCounters = newFollowerCounters();
  /** What opening the follower's own log found. */
  readonly recovery: RecoveryReport;
  private leader: PeerAddress;
  private readonly stallTimeoutMs: number;
  private readonly requestIntervalMs: number;
  private readonly clock: Clock;
  private applied: number;
  private readonly leaderStatus: LeaderStatus;
  private lagMs = 0;
  private lastProgressAt: number;
  private lastRequest = { fromLsn: 0, at: -Infinity };
  /** Verified payloads that arrived ahead of a gap, by first LSN. */
  private readonly held: HeldPayloads<VerifiedBatch[]>;
  private readonly waiters: LsnWaiters;
  private state: 'following' | 'promoted' | 'closed' = 'following';
  /** The segment loop (`follower-receive.ts`): receives, verifies and applies what the leader ships. */
  private readonly receiver: SegmentReceiver;
  private readonly stopTimer: () => void;
  /** The follower's copy of its leader's log (with `storage`). */
  private readonly wal: Wal | undefined;
  private readonly b3: Blake3;
  private readonly transport: Transport;
  /** What the events are applied to (replaced when a shipped snapshot is installed). */
  private machine: StateMachine | undefined;
  private readonly snapshots: FollowerSnapshots;
  private failure: TidalError | undefined;
  private readonly onVersionSkew: ((error: TidalError) => void) | undefined;
  /** Acknowledgements of payloads applied close together, grouped. */
  private readonly acks: GroupedAcks;

  private constructor(
    wal: Wal | undefined,
    b3: Blake3,
    stateMachine: StateMachine | undefined,
    options: FollowerDbOptions,
    recovery: RecoveryReport,
  ) {
    this.wal = wal;
    this.b3 = b3;
    this.transport = options.transport;
    this.machine = stateMachine;
    this.snapshots = new FollowerSnapshots(b3, options.storage, options.shard, options.snapshots);
    this.shard = options.shard;
    this.recovery = recovery;
    this.leader = toPeerAddress(options.leader, 'leader');
    this.stallTimeoutMs = options.stallTimeoutMs ?? 1000;
    this.requestIntervalMs = options.requestIntervalMs ?? 100;
    this.held = new HeldPayloads(options.maxHeldPayloads ?? 16);
    this.clock = options.clock ?? systemClock;
    this.leaderStatus = new LeaderStatus(options.shard, this.clock);
    this.onVersionSkew = options.onVersionSkew;
    this.waiters = new LsnWaiters(() => `follower of shard ${this.shard} (applied ${this.applied})`, this.clock);
    this.applied = wal?.lastLsn ?? 0;
    this.acks = new GroupedAcks(this.clock, options.ackDelayMs ?? 25, options.ackBytes ?? 1024 * 1024, () => this.sendAck());
    this.lastProgressAt = this.clock.now();
    this.stopTimer = this.clock.every(Math.max(10, this.stallTimeoutMs / 2), () => this.checkStall());
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the receiver reads and writes this follower's live state
    const self = this;
    this.receiver = new SegmentReceiver({
      shard: this.shard,
      b3,
      clock: this.clock,
      transport: this.transport,
      wal,
      counters: this.counters,
      held: this.held,
      leaderStatus: this.leaderStatus,
      acks: this.acks,
      waiters: this.waiters,
      snapshots: this.snapshots,
      follower: {
        get leader() {
          return self.leader;
        },
        get following() {
          return self.state === 'following';
        },
        get applied() {
          return self.applied;
        },
        set applied(lsn: number) {
          self.applied = lsn;
        },
        get machine() {
          return self.machine;
        },
        set machine(machine: StateMachine | undefined) {
          self.machine = machine;
        },
        get lastProgressAt() {
          return self.lastProgressAt;
        },
        set lastProgressAt(at: number) {
          self.lastProgressAt = at;
        },
        get lagMs() {
          return self.lagMs;
        },
        set lagMs(ms: number) {
          self.lagMs = ms;
        },
      },
      request: (reason) => this.request(reason),
      fail: (error) => this.fail(error),
      onVersionSkew: this.onVersionSkew,
    });
  }

  /**
   * Opens the follower: recovers its copy of the log, replays it into the
   * state machine, and asks the leader for everything after it.
   */
  static async open(options: FollowerDbOptions): Promise<FollowerDb> {
    checkFollowerOptions(options);
    if (options.stateMachine && options.snapshots && !options.snapshots.restore) {
      throw new TidalError('InvalidArgument', 'a follower with a state machine takes snapshots only with snapshots.restore');
    }
    const b3 = await loadBlake3();
    const storage = options.storage;
    const { wal, report, stateMachine } = storage
      ? await openFollowerCopy(b3, { ...options, storage })
      : { wal: undefined, report: NO_COPY, stateMachine: options.stateMachine };
    const follower = new FollowerDb(wal, b3, stateMachine, options, report);
    void follower.receiver.loop();
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
    const lsns = Math.max(0, this.leaderStatus.lastLsn - this.applied);
    return { lsns, ms: lsns === 0 ? 0 : this.lagMs };
  }

  /** What the events are applied to now: the one given at open, or the one a shipped snapshot was installed into. */
  get stateMachine(): StateMachine | undefined {
    return this.machine;
  }

  /** The leader this follower follows. */
  get leaderAddress(): PeerAddress {
    return this.leader;
  }

  /** Why the follower stopped on its own, if it did: its log failed, or its leader's log is of a newer format (`VersionSkew`). */
  get failed(): TidalError | undefined {
    return this.failure;
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
    this.leaderStatus.lastLsn = this.applied;
    this.reintroduce();
  }

  /**
   * Introduces the follower to its leader again (a leader that restarted
   * knows nothing of it): asks for everything after `appliedLsn`.
   */
  reintroduce(): void {
    this.lastRequest = { fromLsn: 0, at: -Infinity };
    this.request('hello');
    this.leaderStatus.lastHeardAt = this.clock.now(); // give the leader a stall timeout to answer before asking again
  }

  /**
   * Resolves once `lsn` is applied here; rejects with `Timeout` after
   * `timeoutMs`, or `Closed` if the follower closes first.
   */
  whenApplied(lsn: number, timeoutMs = 10_000): Promise<void> {
    if (lsn <= this.applied) return Promise.resolve();
    if (this.state !== 'following') return Promise.reject(new TidalError('Closed', `follower of shard ${this.shard} is ${this.state}`));
    return this.waiters.wait(lsn, this.applied, timeoutMs);
  }

  /**
   * Resolves once the follower has applied what its leader had when first
   * heard (its first status heartbeat): a replica opened afresh (a reloaded
   * tab) answers reads only from then on, so they never go back before what
   * the tab read before. Rejects with `Timeout` after `timeoutMs`.
   */
  async whenCaughtUp(timeoutMs = 10_000): Promise<void> {
    const started = this.clock.now();
    const firstHeardLsn = await this.leaderStatus.whenFirstHeard(timeoutMs);
    await this.whenApplied(firstHeardLsn, Math.max(1, timeoutMs - (this.clock.now() - started)));
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
    const wal = this.wal;
    if (!wal)
      throw new TidalError(
        'InvalidArgument',
        `follower of shard ${this.shard} keeps no copy of the log to lead with (open it with storage)`,
      );
    this.state = 'promoted';
    this.stop();
    await this.receiver.applying;
    if (options.catchUpFrom) await this.catchUp(options.catchUpFrom);
    return wal;
  }

  /** Stops following and closes the follower's log and transport. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasFollowing = this.state === 'following';
    this.state = 'closed';
    this.stop();
    await this.receiver.applying;
    if (wasFollowing) await this.wal?.close();
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
      await this.receiver.apply([
        {
          firstLsn: batch.firstLsn,
          lastLsn: batch.lastLsn,
          eventCount,
          hlc: batch.header.hlc,
          bytes: batch.bytes,
          payload: batch.payload,
          events: this.machine ? prepareVerifiedEvents(batch.payload, eventCount, this.machine) : [],
        },
      ]);
    }
  }

  private stop(): void {
    this.stopTimer();
    this.acks.cancel();
    this.transport.close();
    this.waiters.closeAll(this.state);
  }

  /** Stops following on the follower's own account (its log failed, or a newer tidal leads). */
  private async fail(error: TidalError): Promise<void> {
    this.failure = error;
    if (this.state !== 'following') return;
    this.state = 'closed';
    this.stop();
    await this.wal?.close();
  }

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
      this.leaderStatus.heard(body.lastLsn, this.clock.now());
      if (body.lastLsn > this.applied && this.lastProgressAt < this.clock.now() - this.stallTimeoutMs) this.request('stalled');
    }
  }

  private checkStall(): void {
    if (this.state !== 'following') return;
    const now = this.clock.now();
    if (now - this.leaderStatus.lastHeardAt > this.stallTimeoutMs) {
      // The leader's heartbeats do not reach us: it does not know of us (our hello was lost, or it
      // restarted, or it only now took the lead). Introduce ourselves again.
      this.reintroduce();
    } else if (this.leaderStatus.lastLsn > this.applied && now - this.lastProgressAt > this.stallTimeoutMs) {
      this.request('stalled');
    }
  }

  /** Acknowledges `appliedLsn` to the leader. */
  private sendAck(): void {
    if (this.state !== 'following') return;
    this.counters.acks++;
    this.send(encodeControl({ type: 'ack', shard: this.shard, appliedLsn: this.applied }));
  }

  private request(reason: RequestReason): void {
    const fromLsn = this.applied + 1;
    const now = this.clock.now();
    if (this.lastRequest.fromLsn === fromLsn && now - this.lastRequest.at < this.requestIntervalMs) return;
    this.lastRequest = { fromLsn, at: now };
    this.counters.requests++;
    this.send(encodeControl({ type: 'request', shard: this.shard, fromLsn, reason }));
  }

  private send(bytes: Uint8Array): void {
    this.transport.sendControl(this.leader, bytes).catch(() => undefined); // lost acks are recovered by timeouts
  }
}
