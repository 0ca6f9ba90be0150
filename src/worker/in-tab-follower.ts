/**
 * The in-tab follower: when this tab leads shard k, the worker of shard
 * k+1 (mod shards) verifies shard k's log as it is shipped over a
 * `MessageChannel` between the two workers. It is a second BLAKE3 check of
 * every committed byte in the leader tab (against a worker that corrupts
 * what it ships): its payloads are verified, their events neither applied
 * nor kept (it holds no copy of the log: it is never promoted, the shard's
 * next leader recovers from OPFS).
 *
 * It is the only check of the leader tab's own shipping path (the bytes the
 * WAL hashed when it wrote them, copied, assembled and transferred by the
 * shipper) inside that tab, and in a tab open alone it is the only replica
 * there is. It holds no copy: it is a verification, not a durable copy.
 *
 * What it costs, measured (peers bench, `--profile`, 04:29 UTC, load ~6,
 * tidal_batched; shares of each writer-tab shard worker's busy samples,
 * grouped acknowledgements and no heartbeats while payloads flow): hosting
 * it 8-9.5 % (its receive loop 4.6-6.4 %, BLAKE3 1.9-2.7 % of that; its
 * acknowledgements and status 2.6-3.2 %), shipping to it about half of the
 * 11.2-11.8 % the leader spends sending segments (the other half goes to
 * the reader tab) and part of the 1.2-1.6 % reading acknowledgements:
 * about 15 % of each writer-tab worker, about 7 % of the CPU of the whole
 * run (both tabs, all threads). When another tab follows, that tab's
 * replicas verify what the leader ships them, from the same log through
 * the same code (another `WalShipper` over the same WAL), so with a
 * follower tab this check adds a second path, not a second reader of the
 * same bytes; it is kept for the tab alone and for the leader tab's counters
 * (`stats().shards[k].bytesVerified`, `payloadsRejected`, which
 * e2e/cluster.spec.ts reads in the leader tab).
 *
 * Two halves, one name: the leader's worker ships to it (`shipToInTabFollower`),
 * the neighbouring worker hosts it (`InTabFollower.open`).
 */
import type { Clock } from '../common/clock.js';
import { FollowerDb } from '../replication/follower-db.js';
import { WalShipper, type SnapshotSource } from '../replication/wal-shipper.js';
import type { ShardId } from '../shard/shard-id.js';
import { FaultyTransport } from '../transport/faulty-transport.js';
import { MessagePortTransport } from '../transport/message-port.js';
import type { PeerAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';
import type { Wal } from '../wal/wal.js';

/**
 * How long a commit waits before it is shipped to the in-tab follower, with
 * those committed meanwhile: a check that no one reads or waits on, it is
 * sent the batches of a few ticks in one payload (one message, one receive,
 * one acknowledgement; BLAKE3 still over every byte).
 */
export const IN_TAB_SHIP_AFTER_MS = 25;

/** A log shipped over one link: what a leader owns per follower it ships to. */
export interface LogShipping {
  readonly link: Transport;
  readonly shipper: WalShipper;
}

/** Stops shipping and closes the link. */
export function stopShipping(shipping: LogShipping | undefined): void {
  shipping?.shipper.stop();
  shipping?.link.close();
}

/** The link a leader ships on: with fault injection in debug builds (`FaultyTransport`), the bare link otherwise. */
export function shippingLink(link: Transport, debug: boolean): Transport {
  return debug ? new FaultyTransport(link) : link;
}

/**
 * The leader side: ships `wal` (shard `leader.shard`, led here) to the
 * in-tab follower `replica` at the other end of `port`.
 */
export function shipToInTabFollower(options: {
  readonly wal: Wal;
  readonly leader: PeerAddress;
  readonly port: MessagePort;
  readonly replica: string;
  readonly clock: Clock;
  readonly debug: boolean;
  /** The leader's snapshots, for an in-tab follower that the log cannot serve (it starts empty, the log was compacted). */
  readonly snapshots: SnapshotSource;
}): LogShipping {
  const follower = { shard: options.leader.shard, replica: options.replica };
  const link = shippingLink(new MessagePortTransport(options.port, { local: options.leader, remote: follower }), options.debug);
  const shipper = new WalShipper({
    wal: options.wal,
    transport: link,
    followers: [follower],
    snapshots: options.snapshots,
    clock: options.clock,
    shipAfterMs: IN_TAB_SHIP_AFTER_MS,
  });
  shipper.start();
  return { link, shipper };
}

/** The hosting side: verifies another shard's log, led in this tab, as it is shipped. */
export class InTabFollower {
  /** Unique per follower created, so the main thread keeps each one's counters apart. */
  readonly id = crypto.randomUUID();
  readonly shard: ShardId;
  private readonly follower: FollowerDb;

  private constructor(shard: ShardId, follower: FollowerDb) {
    this.shard = shard;
    this.follower = follower;
  }

  /** Follows shard `shard`, whose leader (worker of tab `tabId`) ships on `port`, as replica `replica`. */
  static async open(options: {
    readonly shard: ShardId;
    readonly port: MessagePort;
    readonly replica: string;
    readonly tabId: string;
    readonly clock: Clock;
  }): Promise<InTabFollower> {
    const { shard, port, replica, tabId } = options;
    const leader = { shard, replica: tabId };
    const follower = await FollowerDb.open({
      shard,
      transport: new MessagePortTransport(port, { local: { shard, replica }, remote: leader }),
      leader,
      snapshots: {}, // a snapshot shipped is verified, and the follower goes on after its LSN
      clock: options.clock,
    });
    return new InTabFollower(shard, follower);
  }

  /** What the main thread tallies. */
  get counters(): { readonly bytesVerified: number; readonly payloadsRejected: number } {
    return this.follower.counters;
  }

  close(): Promise<void> {
    return this.follower.close();
  }
}
