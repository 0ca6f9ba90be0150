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
 *
 * A follower the log alone cannot bring up to date (it is behind the
 * oldest segment its leader kept, or it starts empty) is sent the leader's
 * snapshot instead, in chunks (docs/FORMAT.md §7.3, `snapshot-receiver.ts`):
 * verified whole before anything of it is installed, then installed as a
 * fresh state machine (`snapshots.restore`) and a log that starts over
 * after the snapshot's LSN, which the leader's log then continues.
 */
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from '../transport/address.js';
import type { ReceivedSegment, Transport } from '../transport/transport.js';
import { decodePayload, type Value } from '../wal/payload.js';
import type { Snapshot } from '../wal/snapshot-file.js';
import { SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal, type RecoveryReport } from '../wal/wal.js';
import { LsnWaiters } from './lsn-waiters.js';
import { decodeControl, encodeControl, type RequestReason } from './messages.js';
import { isSnapshotChunk } from './snapshot-chunks.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { newerFormat } from '../wal/segment-scan.js';
import { isWholeSegment, verifyPayload, type VerifiedPayloadBatch } from './verify-payload.js';
import type { StateMachine } from './state-machine.js';

/** How a follower takes a snapshot its leader ships (see `FollowerDbOptions.snapshots`). */
export interface FollowerSnapshotOptions {
  /**
   * BLAKE3-256 of the database's name (`databaseIdOf`): a snapshot of
   * another database is refused. With it, an installed snapshot is also
   * kept on the follower's storage, so that its copy reopens.
   */
  readonly databaseId?: Uint8Array;
  /**
   * Builds a fresh state machine holding a verified snapshot's state (throw
   * a `TidalError` to refuse it: nothing is installed); the follower
   * applies to it from then on. Required with a `stateMachine`.
   */
  readonly restore?: (snapshot: Snapshot) => StateMachine;
  /** Largest snapshot file accepted. Default 1 GiB and the file's overhead. */
  readonly maxBytes?: number;
}

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
  /** Takes snapshots the leader ships. Without it, snapshot chunks are refused (counted in `snapshotChunksRejected`). */
  readonly snapshots?: FollowerSnapshotOptions;
  /** Time: stall checks, request pacing, the timeouts of `whenApplied` and `whenCaughtUp`. Default `systemClock`. */
  readonly clock?: Clock;
  /**
   * Told once if the leader's log turns out to be of a newer format than
   * this build reads (a batch or segment that verifies, of a version it
   * does not know: `VersionSkew`). The follower has applied none of it and
   * stopped following (`failed` says why); the tab should step aside for
   * the newer tidal. Default: nothing but `failed`.
   */
  readonly onVersionSkew?: (error: TidalError) => void;
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
  /** Snapshots received whole, verified and installed. */
  snapshotsInstalled: number;
  /** Snapshot chunks refused (damaged, forged, out of order, of another shard or database), and whole snapshots refused. */
  snapshotChunksRejected: number;
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
    snapshotsInstalled: 0,
    snapshotChunksRejected: 0,
  };
  /** What opening the follower's own log found. */
  readonly recovery: RecoveryReport;
  private leader: PeerAddress;
  private readonly stallTimeoutMs: number;
  private readonly requestIntervalMs: number;
  private readonly maxHeldPayloads: number;
  private readonly clock: Clock;
  private applied: number;
  private leaderLastLsn = 0;
  private lagMs = 0;
  private lastProgressAt: number;
  private lastRequest = { fromLsn: 0, at: -Infinity };
  /** Verified payloads that arrived ahead of a gap, by first LSN. */
  private readonly held = new Map<number, VerifiedBatch[]>();
  private readonly waiters: LsnWaiters;
  private state: 'following' | 'promoted' | 'closed' = 'following';
  /** The payload being applied, so that `promote` and `close` wait for it. */
  private applying: Promise<void> = Promise.resolve();
  private readonly stopTimer: () => void;
  private readonly wal: Wal;
  private readonly b3: Blake3;
  private readonly transport: Transport;
  /** What the events are applied to (replaced when a shipped snapshot is installed). */
  private machine: StateMachine | undefined;
  private readonly snapshotOptions: FollowerSnapshotOptions | undefined;
  private readonly snapshotReceiver: SnapshotReceiver;
  /** Where installed snapshots are kept (with `snapshots.databaseId`). */
  private readonly snapshotStore: SnapshotStore | undefined;
  private failure: TidalError | undefined;
  private readonly onVersionSkew: ((error: TidalError) => void) | undefined;
  /** When the leader's last status heartbeat arrived. */
  private lastStatusAt = -Infinity;
  /** The leader's last LSN in the first status heard (what a fresh replica must reach before it answers reads). */
  private firstHeardLsn: number | undefined;
  private heardLeader!: () => void;
  private readonly firstHeard = new Promise<void>((resolve) => (this.heardLeader = resolve));

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
    this.machine = stateMachine;
    this.snapshotOptions = options.snapshots;
    const databaseId = options.snapshots?.databaseId;
    this.snapshotReceiver = new SnapshotReceiver(b3, {
      shard: options.shard,
      ...(databaseId ? { databaseId } : {}),
      ...(options.snapshots?.maxBytes ? { maxFileBytes: options.snapshots.maxBytes } : {}),
    });
    this.snapshotStore = databaseId ? new SnapshotStore(options.storage, b3, { shard: options.shard, databaseId }) : undefined;
    this.shard = options.shard;
    this.recovery = recovery;
    this.leader = toPeerAddress(options.leader, 'leader');
    this.stallTimeoutMs = options.stallTimeoutMs ?? 1000;
    this.requestIntervalMs = options.requestIntervalMs ?? 100;
    this.maxHeldPayloads = options.maxHeldPayloads ?? 16;
    this.clock = options.clock ?? systemClock;
    this.onVersionSkew = options.onVersionSkew;
    this.waiters = new LsnWaiters(() => `follower of shard ${this.shard} (applied ${this.applied})`, this.clock);
    this.applied = wal.lastLsn;
    this.lastProgressAt = this.clock.now();
    this.stopTimer = this.clock.every(Math.max(10, this.stallTimeoutMs / 2), () => this.checkStall());
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
    if (options.stateMachine && options.snapshots && !options.snapshots.restore) {
      await wal.close();
      throw new TidalError('InvalidArgument', 'a follower with a state machine takes snapshots only with snapshots.restore');
    }
    let stateMachine = options.stateMachine;
    let from = 1;
    if (wal.firstLsn > 1) {
      // The copy starts after a snapshot the leader shipped: the state starts from that snapshot.
      const restored = await restoreCopy(wal, b3, options);
      stateMachine = restored.stateMachine;
      from = restored.lsn + 1;
    }
    // Wal.open has just verified every byte of the copy: the replay checks structure only.
    if (stateMachine && from <= wal.lastLsn) {
      for await (const { lsn, event } of wal.read(from, { verify: false })) stateMachine.apply(lsn, event);
    }
    const follower = new FollowerDb(wal, b3, options.transport, stateMachine, options, report);
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

  /** What the events are applied to now: the one given at open, or the one a shipped snapshot was installed into. */
  get stateMachine(): StateMachine | undefined {
    return this.machine;
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
    this.lastStatusAt = this.clock.now(); // give the leader a stall timeout to answer before asking again
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
    if (this.firstHeardLsn === undefined) {
      let timer: TimerHandle | undefined;
      try {
        await Promise.race([
          this.firstHeard,
          new Promise<never>((_, reject) => {
            timer = this.clock.setTimeout(
              () => reject(new TidalError('Timeout', `follower of shard ${this.shard} has not heard its leader within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        this.clock.clearTimeout(timer);
      }
    }
    await this.whenApplied(this.firstHeardLsn!, Math.max(1, timeoutMs - (this.clock.now() - started)));
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
          events: this.machine ? decodePayload(batch.payload, eventCount) : [],
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
    this.waiters.closeAll(this.state);
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

  /** Why the follower stopped on its own, if it did: its log failed, or its leader's log is of a newer format (`VersionSkew`). */
  get failed(): TidalError | undefined {
    return this.failure;
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
      this.leaderLastLsn = Math.max(this.leaderLastLsn, body.lastLsn);
      this.lastStatusAt = this.clock.now();
      if (this.firstHeardLsn === undefined) {
        this.firstHeardLsn = body.lastLsn;
        this.heardLeader();
      }
      if (body.lastLsn > this.applied && this.lastProgressAt < this.clock.now() - this.stallTimeoutMs) this.request('stalled');
    }
  }

  private checkStall(): void {
    if (this.state !== 'following') return;
    const now = this.clock.now();
    if (now - this.lastStatusAt > this.stallTimeoutMs) {
      // The leader's heartbeats do not reach us: it does not know of us (our hello was lost, or it
      // restarted, or it only now took the lead). Introduce ourselves again.
      this.reintroduce();
    } else if (this.leaderLastLsn > this.applied && now - this.lastProgressAt > this.stallTimeoutMs) {
      this.request('stalled');
    }
  }

  private async receive(segment: ReceivedSegment): Promise<void> {
    if (!sameAddress(segment.from, this.leader)) {
      this.counters.foreign++;
      return;
    }
    if (isSnapshotChunk(new Uint8Array(segment.bytes))) return this.receiveSnapshotChunk(new Uint8Array(segment.bytes));
    let batches: VerifiedBatch[];
    try {
      batches = this.verify(segment);
    } catch (error) {
      if (!isTidalError(error)) throw error;
      if (error.code === 'VersionSkew') return this.meetNewerTidal(error);
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
      events: this.machine ? decodeVerifiedPayload(batch.payload, batch.eventCount) : [],
    }));
    this.counters.bytesVerified += segment.bytes.byteLength;
    return batches;
  }

  /**
   * The leader writes a format this build does not read: a newer tidal
   * leads. Nothing of it is applied or stored; the follower stops (its
   * log closed as it was) and says so, rather than asking for the same
   * bytes again and again as if they were damaged.
   */
  private async meetNewerTidal(error: TidalError): Promise<void> {
    if (this.state !== 'following') return;
    this.failure = error;
    this.state = 'closed';
    this.stop();
    await this.wal.close();
    try {
      this.onVersionSkew?.(error);
    } catch {
      // The report must not break the follower's loop.
    }
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
      const stateMachine = this.machine;
      if (stateMachine) for (let i = 0; i < batch.events.length; i++) stateMachine.apply(batch.firstLsn + i, batch.events[i]!);
      this.counters.eventsApplied += batch.eventCount;
    }
    const last = batches[batches.length - 1]!;
    this.applied = last.lastLsn;
    const now = this.clock.now();
    if (last.hlc > 0n) this.lagMs = Math.max(0, now - Number(last.hlc >> 16n));
    this.lastProgressAt = now;
    this.counters.payloadsApplied++;
    this.waiters.reached(this.applied);
  }

  /**
   * One chunk of a snapshot the leader ships. Once the snapshot is whole and
   * verified, and newer than what is applied, it is installed: restored into
   * a fresh state machine first (a body that does not decode installs
   * nothing), then the follower's log starts over after its LSN.
   */
  private async receiveSnapshotChunk(bytes: Uint8Array): Promise<void> {
    let outcome;
    try {
      if (!this.snapshotOptions) throw new TidalError('InvalidArgument', `follower of shard ${this.shard} does not take snapshots`);
      outcome = this.snapshotReceiver.accept(bytes);
    } catch (error) {
      if (!isTidalError(error)) throw error;
      this.counters.snapshotChunksRejected++;
      this.request('rejected');
      return;
    }
    this.lastProgressAt = this.clock.now();
    this.counters.bytesVerified += bytes.byteLength;
    if (outcome.kind === 'partial') return;
    const { snapshot } = outcome;
    this.leaderLastLsn = Math.max(this.leaderLastLsn, snapshot.lsn);
    if (snapshot.lsn <= this.applied) {
      this.counters.duplicates++;
      this.ack();
      return;
    }
    let machine: StateMachine | undefined;
    try {
      machine = this.snapshotOptions?.restore?.(snapshot);
      if (this.machine && !machine) throw new TidalError('InvalidArgument', 'snapshots.restore returned no state machine');
    } catch (error) {
      if (!isTidalError(error)) throw error;
      this.counters.snapshotChunksRejected++;
      this.request('rejected');
      return;
    }
    await this.wal.restartAfter(snapshot.lsn);
    if (this.snapshotStore) {
      await this.snapshotStore.write({ lsn: snapshot.lsn, hlcHigh: snapshot.hlcHigh, body: snapshot.body });
      await this.snapshotStore.prune(1);
    }
    this.machine = machine;
    this.held.clear();
    this.applied = snapshot.lsn;
    this.counters.snapshotsInstalled++;
    this.waiters.reached(this.applied);
    this.ack();
  }

  private ack(): void {
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

/**
 * The state a follower's copy starts from when the copy starts after LSN 1
 * (a snapshot the leader shipped was installed): the snapshot kept beside
 * the copy, restored. `Corrupt` when there is none that reaches the copy.
 */
async function restoreCopy(
  wal: Wal,
  b3: Blake3,
  options: FollowerDbOptions,
): Promise<{ stateMachine: StateMachine | undefined; lsn: number }> {
  const databaseId = options.snapshots?.databaseId;
  const store = databaseId ? new SnapshotStore(options.storage, b3, { shard: options.shard, databaseId }) : undefined;
  const { snapshot } = store ? await store.loadNewest({ maxLsn: wal.lastLsn }) : { snapshot: undefined };
  if (!snapshot || snapshot.lsn < wal.firstLsn - 1) {
    await wal.close();
    throw new TidalError(
      'Corrupt',
      `follower copy of shard ${options.shard} starts at LSN ${wal.firstLsn} and no snapshot kept beside it reaches there; remove it and let it be rebuilt from the leader`,
    );
  }
  try {
    const stateMachine = options.stateMachine ? options.snapshots!.restore!(snapshot) : undefined;
    return { stateMachine, lsn: snapshot.lsn };
  } catch (error) {
    await wal.close();
    throw error;
  }
}

/**
 * The events of a batch whose digest verified. A payload version this
 * build does not read is then a newer tidal's (`VersionSkew`), not damage.
 */
function decodeVerifiedPayload(payload: Uint8Array, eventCount: number): Value[] {
  try {
    return decodePayload(payload, eventCount);
  } catch (error) {
    if (isTidalError(error, 'UnsupportedVersion')) throw newerFormat(error);
    throw error;
  }
}
