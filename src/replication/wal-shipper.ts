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
 * resent after a timeout. Control messages are validated like data.
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
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import type { CommittedBatch, Wal } from '../wal/wal.js';
import { loadBlake3 } from '../common/blake3.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { decodeControl, encodeControl } from './messages.js';
import { encodeSnapshotChunks } from './snapshot-chunks.js';

/** Where a shipper gets the snapshot it sends to a follower that the log cannot serve. */
export interface SnapshotSource {
  /** The newest snapshot's LSN, 0 when there is none (cheap: asked before every send). */
  newestLsn(): number;
  /** The newest snapshot file's bytes as stored (docs/FORMAT.md §9.1), with its LSN; `undefined` when there is none. */
  read(): Promise<SnapshotFileBytes | undefined>;
}

/** A snapshot file as stored, as a `SnapshotSource` reads it. */
export interface SnapshotFileBytes {
  /** The snapshot's LSN. */
  readonly lsn: number;
  /** The whole file: header, body and digest. */
  readonly file: Uint8Array;
}

/** Options of a `WalShipper`. */
export interface WalShipperOptions {
  /** The leader's log; the shipper ships what it commits. */
  readonly wal: Wal;
  /** The link to the followers; the shipper sends on it and reads their acks and requests. */
  readonly transport: Transport;
  /** Followers to ship to; more can be added with `addFollower`. */
  readonly followers?: readonly TransportAddress[];
  /** Bytes sent and not yet acknowledged, per follower. Default 8 MiB. */
  readonly maxInFlightBytes?: number;
  /** Largest payload of batches assembled for one send. Default 1 MiB (whole sealed segments may be larger). */
  readonly maxPayloadBytes?: number;
  /** Recent committed batches kept in memory for live shipping. Default 16 MiB. */
  readonly cacheBytes?: number;
  /** Resend what is unacknowledged after this long without progress. Default 2000 ms. */
  readonly resendTimeoutMs?: number;
  /**
   * The slowest rate, in bytes per second, at which a follower is expected
   * to receive, verify and install a snapshot: once a snapshot's last chunk
   * is sent, its acknowledgement is awaited `resendTimeoutMs` plus its size
   * at this rate before it is sent again. Default 1 MiB/s.
   */
  readonly snapshotInstallBytesPerS?: number;
  /** Status heartbeat period (also how often timeouts are checked). Default 250 ms. */
  readonly heartbeatMs?: number;
  /**
   * Followers that make themselves known (a request or an acknowledgement
   * from an address not yet followed) and pass this check are added. Default: none are
   * (only `followers` and `addFollower`). Use it where followers come and
   * go, like tabs on a `BroadcastChannel`.
   */
  readonly admit?: (follower: PeerAddress) => boolean;
  /** Most followers at once, however they were added. Default 64. */
  readonly maxFollowers?: number;
  /** The leader's snapshots, for followers behind the log's first LSN (or empty). Without it, such a follower waits. */
  readonly snapshots?: SnapshotSource;
  /** Time: heartbeats, resend timeouts. Default `systemClock`. */
  readonly clock?: Clock;
}

/** One follower's cursor, as `stats()` reports it. */
export interface FollowerCursor {
  /** The follower's address. */
  readonly follower: PeerAddress;
  /** Next LSN to send. */
  readonly nextLsn: number;
  /** Highest LSN the follower acknowledged. */
  readonly ackedLsn: number;
  /** Bytes sent and not yet acknowledged (bounded by `maxInFlightBytes`). */
  readonly inFlightBytes: number;
  /** Payloads sent to this follower, resends included. */
  readonly payloadsSent: number;
  /** Bytes sent to this follower, resends included. */
  readonly bytesSent: number;
  /** Times the cursor went back (request or timeout). */
  readonly resends: number;
  /** Snapshots sent to it (each in chunks). */
  readonly snapshotsSent: number;
}

/** What the shipper has seen. */
export interface WalShipperStats {
  /** One cursor per follower being shipped to. */
  readonly followers: readonly FollowerCursor[];
  /** Control messages that did not decode, came from an unknown peer, or made no sense. */
  readonly badControl: number;
}

interface InFlight {
  readonly lastLsn: number;
  readonly bytes: number;
  /** Extra wait for its acknowledgement beyond `resendTimeoutMs` (a snapshot's install time). */
  readonly patienceMs: number;
}

interface Cursor {
  readonly follower: PeerAddress;
  nextLsn: number;
  ackedLsn: number;
  inFlight: InFlight[];
  inFlightBytes: number;
  lastProgressAt: number;
  payloadsSent: number;
  bytesSent: number;
  resends: number;
  snapshotsSent: number;
  /** Added because it introduced itself (see `admit`); such a follower is dropped once it stops answering. */
  readonly admitted: boolean;
  /** Timeout resends since the follower last acknowledged or asked for anything. */
  unansweredResends: number;
  /** A pump is running (it may await storage); another waits for it. */
  pumping: boolean;
  pumpAgain: boolean;
}

interface CachedBatch {
  readonly segment: WalSegmentId;
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly bytes: Uint8Array;
}

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
  private readonly cacheBytes: number;
  private readonly resendTimeoutMs: number;
  private readonly snapshotInstallBytesPerS: number;
  private readonly heartbeatMs: number;
  private readonly clock: Clock;
  private readonly admit: ((follower: PeerAddress) => boolean) | undefined;
  private readonly maxFollowers: number;
  private readonly cursors: Cursor[] = [];
  private readonly cache: CachedBatch[] = [];
  private cachedBytes = 0;
  private badControl = 0;
  private stopHeartbeat: (() => void) | undefined;
  private stopListening: (() => void) | undefined;
  private running = false;
  private readonly snapshots: SnapshotSource | undefined;
  /** The newest snapshot cut into chunks, kept while it stays the newest (each send hands over a copy). */
  private snapshotChunks: { readonly lsn: number; readonly fileBytes: number; readonly chunks: readonly Uint8Array[] } | undefined;
  /** Prefix of this shipper's retention holders (`Wal.retain`). */
  private readonly holderPrefix = `shipper ${++shippersMade}`;

  /** A shipper for `options.wal`; it sends nothing until `start`. Bad sizes are refused with `InvalidArgument`. */
  constructor(options: WalShipperOptions) {
    this.wal = options.wal;
    this.shard = options.wal.shard;
    this.transport = options.transport;
    this.maxInFlightBytes = positive(options.maxInFlightBytes, 8 * 1024 * 1024, 'maxInFlightBytes');
    this.maxPayloadBytes = positive(options.maxPayloadBytes, 1024 * 1024, 'maxPayloadBytes');
    this.cacheBytes = positive(options.cacheBytes, 16 * 1024 * 1024, 'cacheBytes');
    this.resendTimeoutMs = positive(options.resendTimeoutMs, 2000, 'resendTimeoutMs');
    this.snapshotInstallBytesPerS = positive(options.snapshotInstallBytesPerS, 1024 * 1024, 'snapshotInstallBytesPerS');
    this.heartbeatMs = positive(options.heartbeatMs, 250, 'heartbeatMs');
    this.clock = options.clock ?? systemClock;
    this.admit = options.admit;
    this.maxFollowers = positive(options.maxFollowers, 64, 'maxFollowers');
    this.snapshots = options.snapshots;
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
    const cursor: Cursor = {
      follower,
      nextLsn: fromLsn,
      ackedLsn: fromLsn - 1,
      inFlight: [],
      inFlightBytes: 0,
      lastProgressAt: this.clock.now(),
      payloadsSent: 0,
      bytesSent: 0,
      resends: 0,
      snapshotsSent: 0,
      admitted,
      unansweredResends: 0,
      pumping: false,
      pumpAgain: false,
    };
    this.cursors.push(cursor);
    if (this.running) this.pump(cursor);
  }

  /** Stops shipping to `address` and forgets its cursor (no-op for an unknown address). */
  removeFollower(address: TransportAddress): void {
    const follower = toPeerAddress(address, 'follower');
    const i = this.cursors.findIndex((c) => sameAddress(c.follower, follower));
    if (i >= 0) this.drop(this.cursors[i]!);
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

  /** A snapshot of every follower's cursor and the count of bad control messages. */
  stats(): WalShipperStats {
    return {
      badControl: this.badControl,
      followers: this.cursors.map((c) => ({
        follower: c.follower,
        nextLsn: c.nextLsn,
        ackedLsn: c.ackedLsn,
        inFlightBytes: c.inFlightBytes,
        payloadsSent: c.payloadsSent,
        bytesSent: c.bytesSent,
        resends: c.resends,
        snapshotsSent: c.snapshotsSent,
      })),
    };
  }

  /** Stops shipping (the WAL and the transport stay open: they belong to the caller). */
  stop(): void {
    this.running = false;
    this.stopListening?.();
    this.stopHeartbeat?.();
    for (const cursor of this.cursors) this.wal.release(this.holder(cursor));
  }

  private committed(batch: CommittedBatch): void {
    // The view is valid only now: keep a copy (it is also what gets transferred).
    this.cache.push({ segment: batch.segment, firstLsn: batch.firstLsn, lastLsn: batch.lastLsn, bytes: batch.bytes.slice() });
    this.cachedBytes += batch.bytes.length;
    while (this.cachedBytes > this.cacheBytes && this.cache.length > 1) this.cachedBytes -= this.cache.shift()!.bytes.length;
    for (const cursor of this.cursors) this.pump(cursor);
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
        if (body.appliedLsn > cursor.ackedLsn) {
          cursor.ackedLsn = body.appliedLsn;
          cursor.lastProgressAt = now;
        }
        cursor.unansweredResends = 0;
        while (cursor.inFlight.length > 0 && cursor.inFlight[0]!.lastLsn <= cursor.ackedLsn) {
          cursor.inFlightBytes -= cursor.inFlight.shift()!.bytes;
        }
        if (cursor.nextLsn <= cursor.ackedLsn) cursor.nextLsn = cursor.ackedLsn + 1;
        this.retainFor(cursor);
        this.pump(cursor);
      } else if (body.type === 'request') {
        if (body.fromLsn > this.wal.lastLsn + 1) {
          this.badControl++; // asks for the future
          continue;
        }
        this.rewind(cursor, body.fromLsn);
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

  private rewind(cursor: Cursor, fromLsn: number): void {
    cursor.nextLsn = fromLsn;
    cursor.inFlight = [];
    cursor.inFlightBytes = 0;
    cursor.resends++;
  }

  private tick(): void {
    const now = this.clock.now();
    const status = encodeControl({ type: 'status', shard: this.shard, lastLsn: this.wal.lastLsn });
    for (const cursor of [...this.cursors]) {
      this.transport.sendControl(cursor.follower, status).catch(() => undefined);
      // Waiting on the follower: for acknowledgements, or to reach it at all (a failed send leaves nothing in flight).
      const waiting = cursor.inFlight.length > 0 || cursor.nextLsn <= this.wal.lastLsn;
      const patienceMs = this.resendTimeoutMs + cursor.inFlight.reduce((sum, sent) => sum + sent.patienceMs, 0);
      if (waiting && now - cursor.lastProgressAt > patienceMs) {
        if (cursor.admitted && ++cursor.unansweredResends > ADMITTED_PATIENCE) {
          // A tab that left: stop resending to it (it can introduce itself again).
          this.drop(cursor);
          continue;
        }
        this.rewind(cursor, cursor.ackedLsn + 1);
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
        payload = this.fromCache(from) ?? (await this.fromWal(from));
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
      cursor.inFlight.push({ lastLsn: payload.lastLsn, bytes: payload.size, patienceMs: 0 });
      cursor.inFlightBytes += payload.size;
      cursor.payloadsSent++;
      cursor.bytesSent += payload.size;
      if (cursor.inFlight.length === 1) cursor.lastProgressAt = this.clock.now();
      cursor.nextLsn = payload.lastLsn + 1;
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
      snapshot = await this.snapshotToSend();
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
    cursor.inFlight.push({ lastLsn: snapshot.lsn, bytes: snapshot.fileBytes, patienceMs });
    cursor.inFlightBytes += snapshot.fileBytes;
    cursor.payloadsSent += snapshot.chunks.length;
    cursor.bytesSent += snapshot.fileBytes;
    cursor.snapshotsSent++;
    cursor.lastProgressAt = this.clock.now();
    cursor.nextLsn = snapshot.lsn + 1;
    return true;
  }

  /** The newest snapshot in chunks, read and cut once per snapshot. */
  private async snapshotToSend(): Promise<typeof this.snapshotChunks> {
    const newest = this.snapshots!.newestLsn();
    if (newest === 0) return undefined;
    if (this.snapshotChunks?.lsn === newest) return this.snapshotChunks;
    const [b3, read] = await Promise.all([loadBlake3(), this.snapshots!.read()]);
    if (!read) return undefined;
    const chunks = encodeSnapshotChunks(b3, { shard: this.shard, lsn: read.lsn, file: read.file }, this.maxPayloadBytes);
    this.snapshotChunks = { lsn: read.lsn, fileBytes: read.file.length, chunks };
    return this.snapshotChunks;
  }

  /** Consecutive cached batches of one segment from the one holding `from`, in a fresh buffer. */
  private fromCache(from: number): Payload | undefined {
    const first = this.cache.findIndex((b) => b.firstLsn <= from && from <= b.lastLsn);
    if (first < 0) return undefined;
    const segment = this.cache[first]!.segment;
    let end = first;
    let size = this.cache[first]!.bytes.length;
    while (
      end + 1 < this.cache.length &&
      this.cache[end + 1]!.segment.equals(segment) &&
      size + this.cache[end + 1]!.bytes.length <= this.maxPayloadBytes
    ) {
      end++;
      size += this.cache[end]!.bytes.length;
    }
    return concat(segment, this.cache.slice(first, end + 1));
  }

  /** What a follower that fell out of the cache needs, read back from storage. */
  private async fromWal(from: number): Promise<Payload | undefined> {
    const segment = this.wal.segments().find((s) => s.baseLsn <= from && from <= s.lastLsn);
    if (!segment) return undefined;
    if (segment.sealed && segment.baseLsn === from) {
      const bytes = await this.wal.readSealedSegment(segment.id);
      return {
        segment: segment.id,
        bytes,
        size: bytes.length,
        eventCount: segment.lastLsn - segment.baseLsn + 1,
        lastLsn: segment.lastLsn,
      };
    }
    const batches: CachedBatch[] = [];
    let size = 0;
    for await (const batch of this.wal.readBatches(from)) {
      if (!batch.segment.equals(segment.id) || (batches.length > 0 && size + batch.bytes.length > this.maxPayloadBytes)) break;
      batches.push(batch);
      size += batch.bytes.length;
    }
    return batches.length > 0 ? concat(segment.id, batches) : undefined;
  }
}

interface Payload {
  readonly segment: WalSegmentId;
  /** A buffer of its own, exactly `size` bytes, to be handed to the transport. */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly eventCount: number;
  readonly lastLsn: number;
}

/**
 * The batches in one buffer of their own, exactly their size: it is handed
 * to the transport (transferred), so it must never be the cache's copy.
 */
function concat(segment: WalSegmentId, batches: readonly CachedBatch[]): Payload {
  let size = 0;
  for (const b of batches) size += b.bytes.length;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const b of batches) {
    bytes.set(b.bytes, at);
    at += b.bytes.length;
  }
  const first = batches[0]!;
  const last = batches[batches.length - 1]!;
  return { segment, bytes, size, eventCount: last.lastLsn - first.firstLsn + 1, lastLsn: last.lastLsn };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new TidalError('InvalidArgument', `WalShipper ${name} must be a positive number, got ${value}`);
  return value;
}
