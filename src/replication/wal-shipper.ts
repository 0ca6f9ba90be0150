/**
 * `WalShipper`: on a shard's leader, ships the committed log to each
 * follower over a `Transport`.
 *
 *     const shipper = new WalShipper({ wal, transport, followers: [{ shard: 3, replica: 'w2' }] });
 *     shipper.start();
 *
 * Committed batches go out as they commit (low lag), taken from a bounded
 * cache of recent batches; a follower that is further behind is fed from
 * the WAL on storage, whole sealed segments at a time where it can. Each
 * follower has a cursor (next LSN to send, acknowledged LSN) and a bound on
 * bytes in flight (default 8 MiB): a slow follower gets backpressure, never
 * unbounded memory here. A request from the follower (rejected payload,
 * gap, stall, restart) moves its cursor back; unacknowledged payloads are
 * resent after a timeout. Control messages are validated like data. A
 * status heartbeat goes to each follower every `heartbeatMs`, but for one
 * that was sent a payload since the last (the payload is word enough).
 *
 * A follower the log cannot serve (it needs LSNs compacted away, or it
 * starts empty while a snapshot exists) is sent the newest snapshot from
 * `snapshots`, in chunks within `maxPayloadBytes` (docs/FORMAT.md §7.3),
 * then the log after it. What a follower has acknowledged is held back from
 * compaction (`Wal.retain`) while it follows. Sending each chunk counts as
 * progress, and once the last is sent the shipper waits for the install's
 * acknowledgement longer in proportion to the file's size
 * (`snapshotInstallBytesPerS`): a follower verifying and installing a large
 * snapshot is not sent it again from the start before it could answer.
 */
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { numberOption } from '../common/options.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import { WalSegmentId } from '../wal/segment-id.js';
import type { CommittedBatch, Wal } from '../wal/wal.js';
import { decodeControl, encodeControl } from './messages.js';
import { acknowledged, cursorStats, newCursor, patience, rewind, sent, statusDue, type Cursor } from './shipping-cursor.js';
import { readPayload, RecentBatches, type Payload } from './shipping-payloads.js';
import { SnapshotChunksCache } from './snapshot-sending.js';
import type { WalShipperOptions, WalShipperStats } from './wal-shipper-options.js';

export type { FollowerCursor, SnapshotFileBytes, SnapshotSource, WalShipperOptions, WalShipperStats } from './wal-shipper-options.js';

/** Timeout resends an admitted follower may leave unanswered before it is dropped. */
const ADMITTED_PATIENCE = 3;

/** Numbers shippers, so that two on one log hold their retentions apart. */
let shippersMade = 0;

/** Ships a leader's committed WAL to its followers. */
export class WalShipper {
  /** The shard being shipped (the WAL's shard). */
  readonly shard: ShardId;
  private readonly wal: Wal;
  private readonly transport: Transport;
  private readonly maxInFlightBytes: number;
  private readonly maxPayloadBytes: number;
  private readonly resendTimeoutMs: number;
  private readonly snapshotInstallBytesPerS: number;
  private readonly heartbeatMs: number;
  private readonly clock: Clock;
  private readonly admit: ((follower: PeerAddress) => boolean) | undefined;
  private readonly maxFollowers: number;
  private readonly cursors: Cursor[] = [];
  private readonly recent: RecentBatches;
  private badControl = 0;
  private stopHeartbeat: (() => void) | undefined;
  private stopListening: (() => void) | undefined;
  private running = false;
  /** `options.shipAfterMs`: how long a commit waits to be shipped with those that follow it. */
  private readonly shipAfterMs: number;
  /** Armed from a commit until its wait is over, while `shipAfterMs` > 0. */
  private shipTimer: TimerHandle | undefined;
  /** The leader's newest snapshot in chunks, for followers the log cannot serve (with `options.snapshots`). */
  private readonly snapshots: SnapshotChunksCache | undefined;
  /** Prefix of this shipper's retention holders (`Wal.retain`). */
  private readonly holderPrefix = `shipper ${++shippersMade}`;

  /** A shipper for `options.wal`; it sends nothing until `start`. Bad sizes are refused with `InvalidArgument`. */
  constructor(options: WalShipperOptions) {
    this.wal = options.wal;
    this.shard = options.wal.shard;
    this.transport = options.transport;
    this.maxInFlightBytes = numberOption('WalShipperOptions.maxInFlightBytes', options.maxInFlightBytes, {
      above: 0,
      default: 8 * 1024 * 1024,
    });
    this.maxPayloadBytes = numberOption('WalShipperOptions.maxPayloadBytes', options.maxPayloadBytes, { above: 0, default: 1024 * 1024 });
    this.recent = new RecentBatches(
      numberOption('WalShipperOptions.cacheBytes', options.cacheBytes, { above: 0, default: 16 * 1024 * 1024 }),
    );
    this.resendTimeoutMs = numberOption('WalShipperOptions.resendTimeoutMs', options.resendTimeoutMs, { above: 0, default: 2000 });
    this.snapshotInstallBytesPerS = numberOption('WalShipperOptions.snapshotInstallBytesPerS', options.snapshotInstallBytesPerS, {
      above: 0,
      default: 1024 * 1024,
    });
    this.heartbeatMs = numberOption('WalShipperOptions.heartbeatMs', options.heartbeatMs, { above: 0, default: 250 });
    this.clock = options.clock ?? systemClock;
    this.shipAfterMs = numberOption('WalShipperOptions.shipAfterMs', options.shipAfterMs, { min: 0, max: 10_000, default: 0 });
    this.admit = options.admit;
    this.maxFollowers = numberOption('WalShipperOptions.maxFollowers', options.maxFollowers, { above: 0, default: 64 });
    this.snapshots = options.snapshots ? new SnapshotChunksCache(options.snapshots, this.shard, this.maxPayloadBytes) : undefined;
    for (const follower of options.followers ?? []) this.addFollower(follower);
  }

  /** Starts shipping: listens for commits and control messages, and sends heartbeats. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopListening = this.wal.onCommit((batch) => this.committed(batch));
    this.stopHeartbeat = this.clock.every(this.heartbeatMs, () => this.tick());
    void this.controlLoop();
    for (const cursor of this.cursors) this.pump(cursor);
  }

  /** Adds a follower; it is shipped everything from `fromLsn` (default: the start of the log) until it says otherwise. */
  addFollower(address: TransportAddress, fromLsn = 1, admitted = false): void {
    const follower = toPeerAddress(address, 'follower');
    if (this.cursors.some((c) => sameAddress(c.follower, follower))) return;
    if (this.cursors.length >= this.maxFollowers) {
      throw new TidalError('InvalidArgument', `shard ${this.shard} already ships to ${this.maxFollowers} followers (maxFollowers)`);
    }
    const cursor = newCursor(follower, fromLsn, this.clock.now(), admitted);
    this.cursors.push(cursor);
    if (this.running) this.pump(cursor);
  }

  /** Stops shipping to `address` and forgets its cursor (no-op for an unknown address). */
  removeFollower(address: TransportAddress): void {
    const follower = toPeerAddress(address, 'follower');
    const i = this.cursors.findIndex((c) => sameAddress(c.follower, follower));
    if (i >= 0) this.drop(this.cursors[i]!);
  }

  /** A snapshot of every follower's cursor and the count of bad control messages. */
  stats(): WalShipperStats {
    return { badControl: this.badControl, followers: this.cursors.map(cursorStats) };
  }

  /** Stops shipping (the WAL and the transport stay open: they belong to the caller). */
  stop(): void {
    this.running = false;
    this.stopListening?.();
    this.stopHeartbeat?.();
    if (this.shipTimer !== undefined) this.clock.clearTimeout(this.shipTimer);
    this.shipTimer = undefined;
    for (const cursor of this.cursors) this.wal.release(this.holder(cursor));
  }

  private drop(cursor: Cursor): void {
    const i = this.cursors.indexOf(cursor);
    if (i >= 0) this.cursors.splice(i, 1);
    this.wal.release(this.holder(cursor));
  }

  private holder(cursor: Cursor): string {
    return `${this.holderPrefix} ${cursor.follower.shard}/${cursor.follower.replica}`;
  }

  /**
   * Holds back compaction for what the follower still needs: the log after
   * what it acknowledged. A follower behind the log's start holds nothing
   * back (it is sent a snapshot).
   */
  private retainFor(cursor: Cursor): void {
    const needs = cursor.ackedLsn + 1;
    if (needs >= this.wal.firstLsn) this.wal.retain(this.holder(cursor), needs);
    else this.wal.release(this.holder(cursor));
  }

  private committed(batch: CommittedBatch): void {
    this.recent.add(batch);
    if (this.shipAfterMs === 0) {
      for (const cursor of this.cursors) this.pump(cursor);
      return;
    }
    this.shipTimer ??= this.clock.setTimeout(() => {
      this.shipTimer = undefined;
      for (const cursor of this.cursors) this.pump(cursor);
    }, this.shipAfterMs);
  }

  private async controlLoop(): Promise<void> {
    for (;;) {
      const message = await this.transport.recvControl();
      if (message === null || !this.running) return;
      let cursor = this.cursors.find((c) => sameAddress(c.follower, message.from));
      let body;
      try {
        body = decodeControl(message.bytes);
      } catch {
        this.badControl++;
        continue;
      }
      if (
        !cursor &&
        body.type !== 'status' &&
        body.shard === this.shard &&
        this.cursors.length < this.maxFollowers &&
        this.admit?.(message.from)
      ) {
        // A follower introducing itself, or one that followed this leader's previous incarnation
        // (a restarted worker) and goes on asking or acknowledging.
        const fromLsn = body.type === 'request' ? body.fromLsn : body.appliedLsn + 1;
        if (fromLsn <= this.wal.lastLsn + 1) {
          this.addFollower(message.from, fromLsn, true);
          cursor = this.cursors[this.cursors.length - 1];
        }
      }
      if (!cursor || body.shard !== this.shard) {
        this.badControl++;
        continue;
      }
      const now = this.clock.now();
      if (body.type === 'ack') {
        if (body.appliedLsn > this.wal.lastLsn) {
          this.badControl++; // acknowledges what was never written
          continue;
        }
        acknowledged(cursor, body.appliedLsn, now);
        this.retainFor(cursor);
        // While commits wait to be shipped together, the timer ships them (an acknowledgement would send them one by one).
        if (this.shipTimer === undefined) this.pump(cursor);
      } else if (body.type === 'request') {
        if (body.fromLsn > this.wal.lastLsn + 1) {
          this.badControl++; // asks for the future
          continue;
        }
        rewind(cursor, body.fromLsn);
        // A request says what the follower holds now (a restarted follower may hold less than it acknowledged).
        cursor.ackedLsn = body.fromLsn - 1;
        cursor.unansweredResends = 0;
        cursor.lastProgressAt = now;
        this.retainFor(cursor);
        this.pump(cursor);
      } else {
        this.badControl++; // followers do not send status
      }
    }
  }

  private tick(): void {
    const now = this.clock.now();
    const status = encodeControl({ type: 'status', shard: this.shard, lastLsn: this.wal.lastLsn });
    for (const cursor of [...this.cursors]) {
      if (statusDue(cursor)) this.transport.sendControl(cursor.follower, status).catch(() => undefined);
      // Waiting on the follower: for acknowledgements, or to reach it at all (a failed send leaves nothing in flight).
      const waiting = cursor.inFlight.length > 0 || cursor.nextLsn <= this.wal.lastLsn;
      if (waiting && now - cursor.lastProgressAt > patience(cursor, this.resendTimeoutMs)) {
        if (cursor.admitted && ++cursor.unansweredResends > ADMITTED_PATIENCE) {
          // A tab that left: stop resending to it (it can introduce itself again).
          this.drop(cursor);
          continue;
        }
        rewind(cursor, cursor.ackedLsn + 1);
        cursor.lastProgressAt = now;
        this.pump(cursor);
      }
    }
  }

  /** Sends to `cursor` what it lacks, within its in-flight bound. */
  private pump(cursor: Cursor): void {
    if (!this.running) return;
    if (cursor.pumping) {
      cursor.pumpAgain = true;
      return;
    }
    cursor.pumping = true;
    void this.pumpLoop(cursor).finally(() => {
      cursor.pumping = false;
      if (cursor.pumpAgain) {
        cursor.pumpAgain = false;
        this.pump(cursor);
      }
    });
  }

  private async pumpLoop(cursor: Cursor): Promise<void> {
    while (this.running && cursor.nextLsn <= this.wal.lastLsn && cursor.inFlightBytes < this.maxInFlightBytes) {
      if (!this.cursors.includes(cursor)) return;
      const from = cursor.nextLsn;
      if (this.needsSnapshot(from)) {
        if (!(await this.sendSnapshot(cursor, from))) return;
        continue;
      }
      let payload: Payload | undefined;
      try {
        payload = this.recent.payloadFrom(from, this.maxPayloadBytes) ?? (await readPayload(this.wal, from, this.maxPayloadBytes));
      } catch {
        return; // the WAL is closing or failed; a later commit, request or timeout pumps again
      }
      if (cursor.nextLsn !== from) continue; // rewound while reading
      if (!payload) return;
      try {
        await this.transport.sendSegment(cursor.follower, {
          id: payload.segment,
          bytes: payload.bytes.buffer as ArrayBuffer,
          eventCount: payload.eventCount,
        });
      } catch (error) {
        if (error instanceof TidalError && error.code === 'Closed') this.stop();
        return; // the follower is unreachable now; its request or the timeout will resume it
      }
      cursor.payloadsSent++;
      sent(cursor, payload.lastLsn, payload.size, 0, this.clock.now());
    }
  }

  /** True when a follower that needs `from` next is better sent the snapshot: the log no longer holds it, or it starts empty. */
  private needsSnapshot(from: number): boolean {
    if (!this.snapshots) return false;
    return from < this.wal.firstLsn || (from === 1 && this.snapshots.newestLsn() > 0);
  }

  /**
   * Sends the newest snapshot to `cursor` in chunks, then moves its cursor to
   * the log after it. False when it cannot be sent now (none that reaches
   * the log, or the follower is unreachable): a request or timeout retries.
   */
  private async sendSnapshot(cursor: Cursor, from: number): Promise<boolean> {
    let snapshot;
    try {
      snapshot = await this.snapshots!.newest();
    } catch {
      return false; // the store failed; a later request or timeout tries again
    }
    if (cursor.nextLsn !== from) return true; // rewound meanwhile: the loop looks again
    if (!snapshot || snapshot.lsn + 1 < this.wal.firstLsn || snapshot.lsn < from - 1) return false;
    const id = new WalSegmentId(this.shard, 0n);
    // Every rewind counts a resend: one while the chunks go out (a request, a timeout) ends this send.
    const resends = cursor.resends;
    for (const chunk of snapshot.chunks) {
      try {
        // Each send hands its buffer over: the kept chunks stay for the next follower.
        await this.transport.sendSegment(cursor.follower, { id, bytes: chunk.slice().buffer, eventCount: 0 });
      } catch (error) {
        if (error instanceof TidalError && error.code === 'Closed') this.stop();
        return false;
      }
      if (cursor.resends !== resends) return true;
      cursor.lastProgressAt = this.clock.now();
    }
    const patienceMs = (snapshot.fileBytes / this.snapshotInstallBytesPerS) * 1000;
    const now = this.clock.now();
    cursor.payloadsSent += snapshot.chunks.length;
    cursor.snapshotsSent++;
    sent(cursor, snapshot.lsn, snapshot.fileBytes, patienceMs, now);
    cursor.lastProgressAt = now;
    return true;
  }
}
