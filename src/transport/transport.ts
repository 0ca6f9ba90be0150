/**
 * The `Transport` interface: how replication code moves WAL segment bytes
 * (and its own small control messages) between replicas, whatever carries
 * them (`InProcessTransport`, `MessagePortTransport`,
 * `BroadcastChannelTransport`). A `Transport` is all the replication code
 * sees, so everything here is a plain value behind any implementation.
 *
 * Two independent lanes share one link:
 * - **segments**: `sendSegment` / `recvSegment`, carrying a
 *   `WalSegmentPayload` whose bytes are handed over (transferred where the
 *   carrier can, cloned by `BroadcastChannel`);
 * - **control**: `sendControl` / `recvControl`, carrying small opaque byte
 *   strings (acks, NACKs, catch-up requests, whose format the replication
 *   layer owns), each tagged with its sender.
 * Each lane has its own bounded receive queue, so a burst of segments never
 * delays or crowds out acks, and vice versa.
 *
 *     await transport.sendSegment(follower, { id, bytes, eventCount }); // bytes now belong to the transport
 *     for (let seg; (seg = await transport.recvSegment()) !== null; ) apply(seg);
 *
 * Delivery is best effort: a message can be lost (receive queue full, peer
 * gone, malformed on arrival), and a fault-injecting carrier can duplicate,
 * reorder or corrupt. The replication layer verifies digests and
 * re-requests what is missing.
 */
import type { ShardId } from '../shard/shard-id.js';
import type { WalSegmentId } from '../wal/segment-id.js';
import type { PeerAddress, TransportAddress } from './address.js';

/** One WAL segment (or a run of committed batches) on its way to a replica. The bytes are already checksummed by the WAL writer. */
export interface WalSegmentPayload {
  /** Which segment of which shard's log the bytes belong to. */
  readonly id: WalSegmentId;
  /** The segment bytes. Handed over by `sendSegment`: the sender must not touch them afterwards. */
  readonly bytes: ArrayBuffer;
  /** How many events the bytes hold, so the receiver can validate quickly. A non-negative safe integer. */
  readonly eventCount: number;
}

/** A received segment: the payload plus the address of the replica that sent it. */
export interface ReceivedSegment extends WalSegmentPayload {
  /** The sender, as it named itself (validated in shape; the transport cannot authenticate it). */
  readonly from: PeerAddress;
}

/** A received control message: opaque bytes (the replication layer's own format) and their sender. */
export interface ControlMessage {
  /** The sender, as it named itself. */
  readonly from: PeerAddress;
  /** The message bytes, a view of a buffer that belongs to the receiver. */
  readonly bytes: Uint8Array;
}

/** What a transport has seen, since it was opened. Counts are messages unless named `bytes`. */
export interface TransportCounters {
  /** Segment and control messages handed to the carrier. */
  readonly sent: number;
  /** Payload bytes (segment plus control) handed to the carrier. */
  readonly bytesSent: number;
  /** Well-formed messages addressed to this transport and accepted into a receive queue (or straight to a waiting receiver). */
  readonly received: number;
  /** Payload bytes of the `received` messages. */
  readonly bytesReceived: number;
  /** Messages that failed validation (shape, types, sizes, ids) and were dropped. */
  readonly malformed: number;
  /** Well-formed messages for this transport dropped because their receive queue was full. */
  readonly dropped: number;
  /** Well-formed messages addressed to another replica (normal on a `BroadcastChannel`), ignored. */
  readonly ignored: number;
  /** Messages of a newer transport protocol (a newer tidal on the carrier), dropped unread and reported as `'newerVersion'`. */
  readonly newerVersion: number;
}

/**
 * Why an incoming message was not delivered, as passed to `TransportOptions.onDrop`:
 * it failed validation, its queue was full, or it speaks a newer transport
 * protocol than this build (version skew: the receiver should step aside).
 */
export type DropReason = 'malformed' | 'queueFull' | 'newerVersion';

/** Limits and hooks shared by every transport implementation. */
export interface TransportOptions {
  /** Largest segment payload sent or accepted, in bytes. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Largest control message sent or accepted, in bytes. Default 64 KiB. */
  maxControlBytes?: number;
  /** Most segments held in the receive queue; further ones are dropped and counted. Default 256. */
  maxQueuedSegments?: number;
  /** Most segment bytes held in the receive queue; further segments are dropped and counted. Default 256 MiB (or `maxSegmentBytes`, if larger); must be at least `maxSegmentBytes`. */
  maxQueuedSegmentBytes?: number;
  /** Most control messages held in the receive queue; further ones are dropped and counted. Default 4096. */
  maxQueuedControls?: number;
  /**
   * Called (synchronously, from the receive path) for every incoming message
   * that is dropped, with a human-readable `detail`. For reporting only: it
   * must not throw (if it does, the error is swallowed). For `'newerVersion'`,
   * `version` is the transport protocol version the message claims. Default: none.
   */
  onDrop?: (reason: DropReason, detail: string, version?: number) => void;
}

/** Default `maxSegmentBytes`: 64 MiB. */
export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Default `maxControlBytes`: 64 KiB. */
export const DEFAULT_MAX_CONTROL_BYTES = 64 * 1024;
/** Default `maxQueuedSegments`. */
export const DEFAULT_MAX_QUEUED_SEGMENTS = 256;
/** Default `maxQueuedSegmentBytes`: 256 MiB. */
export const DEFAULT_MAX_QUEUED_SEGMENT_BYTES = 256 * 1024 * 1024;
/** Default `maxQueuedControls`. */
export const DEFAULT_MAX_QUEUED_CONTROLS = 4096;

/** Moves WAL segment payloads and control messages between replicas. */
export interface Transport {
  /** The shard this transport speaks for (`localAddress.shard`). */
  readonly localShard: ShardId;
  /** This replica's full address; messages are delivered here only when addressed to exactly this. */
  readonly localAddress: PeerAddress;
  /** A snapshot of the counters. */
  readonly counters: TransportCounters;

  /**
   * Queues `payload` for delivery to `to` (a bare shard id means `{ shard, replica: '' }`).
   * Resolves once queued for delivery, not when delivered or applied.
   *
   * **The payload's `ArrayBuffer` is handed over**: on `MessagePortTransport`
   * and `InProcessTransport` it is transferred, so after the call the
   * caller's buffer is detached (`byteLength === 0`); on
   * `BroadcastChannelTransport` it is cloned. Either way the caller must not
   * use it afterwards; keep a copy if you need one.
   *
   * Rejects, before anything is sent (the buffer then stays with the caller),
   * with `TransportError` `Closed` once closed, `UnknownPeer` when `to` is not
   * reachable through this transport, `PayloadTooLarge` when
   * `bytes.byteLength` exceeds `maxSegmentBytes`, and `TidalError`
   * `InvalidArgument` for a malformed address or payload.
   */
  sendSegment(to: TransportAddress, payload: WalSegmentPayload): Promise<void>;

  /**
   * Waits for the next segment addressed to this replica. Resolves `null`
   * once the transport is closed (also for calls already waiting); segments
   * still queued at close are discarded. Never rejects.
   */
  recvSegment(): Promise<ReceivedSegment | null>;

  /**
   * Queues a small control message (ack, NACK, catch-up request...) for `to`.
   * The bytes are copied (they are small and bounded), so the caller keeps
   * its buffer. Same rejections as `sendSegment`, with `maxControlBytes` as
   * the bound.
   */
  sendControl(to: TransportAddress, bytes: Uint8Array): Promise<void>;

  /** Waits for the next control message addressed to this replica; `null` once closed. Never rejects. */
  recvControl(): Promise<ControlMessage | null>;

  /**
   * Closes the transport: pending and later receives resolve `null`, queued
   * messages are discarded, listeners are detached and the underlying port
   * or channel is closed; later sends reject with `Closed`. Idempotent.
   */
  close(): void;
}
