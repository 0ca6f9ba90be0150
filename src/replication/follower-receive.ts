/**
 * A `FollowerDb`'s segment loop: what it does with each payload its leader
 * ships (docs/FORMAT.md §7.1). Every payload is verified with BLAKE3, and
 * its events read and checked, before anything of it is stored or applied;
 * one that fails is rejected and asked for again. Events are applied in
 * LSN order, exactly once: a duplicate is acknowledged and ignored, a gap
 * is asked for (payloads that arrive early are held until it fills). A
 * snapshot chunk goes to the snapshot install (`follower-snapshot-install.ts`).
 *
 *     const receiver = new SegmentReceiver(context);
 *     void receiver.loop();            // until the transport closes or the follower stops
 *     await receiver.applying;         // the payload being applied, if any
 */
import type { Blake3 } from '../common/blake3.js';
import type { Clock } from '../common/clock.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, type PeerAddress } from '../transport/address.js';
import type { ReceivedSegment, Transport } from '../transport/transport.js';
import type { Wal } from '../wal/wal.js';
import type { FollowerCounters } from './follower-options.js';
import type { FollowerSnapshots } from './follower-snapshots.js';
import { installSnapshotChunk } from './follower-snapshot-install.js';
import type { GroupedAcks } from './grouped-acks.js';
import type { HeldPayloads } from './held-payloads.js';
import type { LeaderStatus } from './leader-status.js';
import type { LsnWaiters } from './lsn-waiters.js';
import type { RequestReason } from './messages.js';
import { isSnapshotChunk } from './snapshot-chunks.js';
import type { PreparedEvent, StateMachine } from './state-machine.js';
import { isWholeSegment, prepareVerifiedEvents, verifyPayload, type VerifiedPayloadBatch } from './verify-payload.js';

/** A verified batch and its events, read and checked by the state machine, in LSN order (none without a state machine). */
export interface VerifiedBatch extends VerifiedPayloadBatch {
  readonly events: PreparedEvent[];
}

/** What the segment loop and the snapshot install share with their `FollowerDb`: its parts, and its live state. */
export interface FollowerContext {
  readonly shard: ShardId;
  readonly b3: Blake3;
  readonly clock: Clock;
  readonly transport: Transport;
  /** The follower's copy of its leader's log (with `storage`). */
  readonly wal: Wal | undefined;
  readonly counters: FollowerCounters;
  readonly held: HeldPayloads<VerifiedBatch[]>;
  readonly leaderStatus: LeaderStatus;
  readonly acks: GroupedAcks;
  readonly waiters: LsnWaiters;
  readonly snapshots: FollowerSnapshots;
  /** The follower's live state, read and written through. */
  readonly follower: {
    readonly leader: PeerAddress;
    readonly following: boolean;
    applied: number;
    machine: StateMachine | undefined;
    lastProgressAt: number;
    lagMs: number;
  };
  /** Asks the leader for everything after `applied` (rate-limited by the follower). */
  request(reason: RequestReason): void;
  /** Stops following on the follower's own account (its log failed, or a newer tidal leads). */
  fail(error: TidalError): Promise<void>;
  readonly onVersionSkew: ((error: TidalError) => void) | undefined;
}

/** Receives, verifies and applies the payloads of a follower's transport, one at a time. */
export class SegmentReceiver {
  /** The payload being applied, so that promoting or closing the follower waits for it. */
  applying: Promise<void> = Promise.resolve();
  private readonly context: FollowerContext;

  constructor(context: FollowerContext) {
    this.context = context;
  }

  /** Receives until the transport closes or the follower stops following; a failure of the follower's own log stops it. */
  async loop(): Promise<void> {
    const { transport, follower } = this.context;
    for (;;) {
      const segment = await transport.recvSegment();
      if (segment === null || !follower.following) return;
      const done = this.receive(segment);
      this.applying = done.catch(() => undefined);
      try {
        await done;
      } catch (error) {
        // The follower's own log failed (storage): it cannot apply anything more.
        await this.context.fail(isTidalError(error) ? error : new TidalError('StorageError', String(error), { cause: error }));
        return;
      }
    }
  }

  /**
   * Applies verified batches, in order, after `applied` (stored first in
   * the follower's copy of the log, when it keeps one; `whole`: a sealed
   * segment stored in one write).
   */
  async apply(batches: VerifiedBatch[], whole?: ReceivedSegment): Promise<void> {
    const { wal, counters, follower, clock, waiters } = this.context;
    if (wal) await store(wal, batches, whole);
    for (const batch of batches) {
      for (let i = 0; i < batch.events.length; i++) batch.events[i]!(batch.firstLsn + i);
      counters.eventsApplied += batch.eventCount;
    }
    const last = batches[batches.length - 1]!;
    follower.applied = last.lastLsn;
    const now = clock.now();
    if (last.hlc > 0n) follower.lagMs = Math.max(0, now - Number(last.hlc >> 16n));
    follower.lastProgressAt = now;
    counters.payloadsApplied++;
    waiters.reached(follower.applied);
  }

  private async receive(segment: ReceivedSegment): Promise<void> {
    const { counters, follower, leaderStatus, clock, held, acks } = this.context;
    if (!sameAddress(segment.from, follower.leader)) {
      counters.foreign++;
      return;
    }
    if (isSnapshotChunk(new Uint8Array(segment.bytes))) return installSnapshotChunk(this.context, new Uint8Array(segment.bytes));
    let batches: VerifiedBatch[];
    try {
      batches = this.verify(segment);
    } catch (error) {
      if (!isTidalError(error)) throw error;
      if (error.code === 'VersionSkew') return this.meetNewerTidal(error);
      counters.payloadsRejected++;
      this.context.request('rejected');
      return;
    }
    const last = batches[batches.length - 1]!;
    // A verified payload is word from the leader (it sends no heartbeat to a follower it ships to).
    leaderStatus.saw(last.lastLsn);
    leaderStatus.lastHeardAt = clock.now();
    if (last.lastLsn <= follower.applied) {
      counters.duplicates++;
      acks.now();
      return;
    }
    const fresh = batches.filter((b) => b.lastLsn > follower.applied);
    if (fresh[0]!.firstLsn !== follower.applied + 1) {
      if (fresh[0]!.firstLsn <= follower.applied) {
        // Batches are the unit of the log on both sides: one straddling our applied LSN is not the leader's.
        counters.payloadsRejected++;
        this.context.request('rejected');
        return;
      }
      counters.gaps++;
      held.hold(fresh[0]!.firstLsn, fresh);
      this.context.request('gap');
      return;
    }
    // A whole sealed segment that starts right where we are is stored in one write.
    const whole = fresh.length === batches.length && isWholeSegment(segment) ? segment : undefined;
    await this.apply(fresh, whole);
    // Payloads that arrived early may follow on now.
    for (let next = held.take(follower.applied + 1); next; next = held.take(follower.applied + 1)) await this.apply(next);
    held.dropThrough(follower.applied);
    acks.soon(segment.bytes.byteLength);
  }

  /**
   * Verifies a payload and decodes its events, all before anything is
   * applied. Throws a `TidalError` saying what is wrong.
   */
  private verify(segment: ReceivedSegment): VerifiedBatch[] {
    const { b3, shard, follower, counters } = this.context;
    const verified = verifyPayload(b3, segment, shard);
    // With a state machine, every event is read and checked (its format first) now: nothing is stored or applied unless all of it reads.
    const machine = follower.machine;
    const batches = verified.map((batch) => ({
      ...batch,
      events: machine ? prepareVerifiedEvents(batch.payload, batch.eventCount, machine) : [],
    }));
    counters.bytesVerified += segment.bytes.byteLength;
    return batches;
  }

  /**
   * The leader writes a format this build does not read: a newer tidal
   * leads. Nothing of it is applied or stored; the follower stops (its
   * log closed as it was) and says so, rather than asking for the same
   * bytes again and again as if they were damaged.
   */
  private async meetNewerTidal(error: TidalError): Promise<void> {
    if (!this.context.follower.following) return;
    await this.context.fail(error);
    try {
      this.context.onVersionSkew?.(error);
    } catch {
      // The report must not break the follower's loop.
    }
  }
}

/** Appends verified batches to the follower's copy of the log, byte for byte. */
async function store(wal: Wal, batches: VerifiedBatch[], whole: ReceivedSegment | undefined): Promise<void> {
  if (whole) {
    try {
      await wal.importSealedSegment(whole.id, new Uint8Array(whole.bytes));
      return;
    } catch (error) {
      if (!isTidalError(error, 'HeaderMismatch')) throw error; // not at a segment boundary: batch by batch
    }
  }
  await wal.importBatches(batches.map((b) => b.bytes));
}
