/**
 * What a `WalShipper` is made with (`WalShipperOptions`, and the
 * `SnapshotSource` it takes snapshots from) and what it reports
 * (`WalShipperStats`): the shipper's surface, apart from its logic.
 */
import type { Clock } from '../common/clock.js';
import type { PeerAddress, TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import type { Wal } from '../wal/wal.js';

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
  /**
   * How long a commit waits before it is shipped, so that the batches
   * committed meanwhile travel in one payload (one message, one
   * verification pass, one acknowledgement). Default 0: each commit is
   * shipped at once. For a follower whose lag no one waits on (the in-tab
   * follower, a check of what the leader tab ships), not one that is read.
   */
  readonly shipAfterMs?: number;
  /** Status heartbeat period (also how often timeouts are checked); a follower sent a payload since the last tick gets none. Default 250 ms. */
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
