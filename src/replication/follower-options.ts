/**
 * What a `FollowerDb` is opened with (`FollowerDbOptions`) and what it
 * reports (`FollowerCounters`, `FollowerLag`): the follower's surface,
 * apart from its logic.
 */
import type { Clock } from '../common/clock.js';
import type { TidalError } from '../common/errors.js';
import { integerOption, numberOption } from '../common/options.js';
import type { ShardId } from '../shard/shard-id.js';
import type { TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import type { Snapshot } from '../wal/snapshot-file.js';
import type { WalStorage } from '../wal/storage.js';
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
  /**
   * Where the follower keeps its copy of the log, byte for byte: it
   * survives restarts (replayed on open) and can be promoted. Without it
   * the follower keeps no copy: it verifies and applies what it is
   * shipped and remembers its applied LSN only, so it holds no memory per
   * event beyond its state (a replica that a restart rebuilds from its
   * leader, and that is never promoted: a tab's follower, the in-tab
   * follower). Default: no copy.
   */
  readonly storage?: WalStorage;
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
  /**
   * Longest an applied payload waits for its acknowledgement: payloads
   * applied within this time of each other are acknowledged once, by the
   * last one's LSN (sooner once `ackBytes` are unacknowledged). Default 25 ms.
   */
  readonly ackDelayMs?: number;
  /** Bytes applied unacknowledged at which the follower acknowledges at once. Default 1 MiB. */
  readonly ackBytes?: number;
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
  /** Acknowledgements sent to the leader (one per group of payloads applied together, see `ackDelayMs`). */
  acks: number;
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

/** Counters of a follower just opened: all zero. */
export function newFollowerCounters(): FollowerCounters {
  return {
    bytesVerified: 0,
    payloadsApplied: 0,
    eventsApplied: 0,
    payloadsRejected: 0,
    duplicates: 0,
    gaps: 0,
    requests: 0,
    acks: 0,
    foreign: 0,
    snapshotsInstalled: 0,
    snapshotChunksRejected: 0,
  };
}

/** Refuses timing and size options out of range with `InvalidArgument`, naming the option (before anything is opened). */
export function checkFollowerOptions(options: FollowerDbOptions): void {
  numberOption('FollowerDbOptions.stallTimeoutMs', options.stallTimeoutMs, { above: 0, default: 1000 });
  numberOption('FollowerDbOptions.requestIntervalMs', options.requestIntervalMs, { min: 0, default: 100 });
  numberOption('FollowerDbOptions.ackDelayMs', options.ackDelayMs, { min: 0, default: 25 });
  numberOption('FollowerDbOptions.ackBytes', options.ackBytes, { min: 0, default: 1024 * 1024 });
  integerOption('FollowerDbOptions.maxHeldPayloads', options.maxHeldPayloads, { min: 0, default: 16 });
}
