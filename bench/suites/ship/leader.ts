/**
 * The leader role of the ship suite's worker: a WAL on OPFS and a
 * `WalShipper` over a link to the follower worker (a `MessagePort`,
 * transferring or cloning, or a `BroadcastChannel`), for the throughput
 * rounds (a log built once, shipped by a fresh shipper each round) and the
 * lag rounds (a fresh durable WAL written steadily, each LSN's commit time
 * recorded).
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../../src/common/errors.js';
import { WalShipper } from '../../../src/replication/wal-shipper.js';
import type { Transport } from '../../../src/transport/transport.js';
import { OpfsStorage } from '../../../src/wal/opfs-storage.js';
import { Wal } from '../../../src/wal/wal.js';
import {
  EVENT_BYTES,
  EVENTS_PER_BATCH,
  FOLLOWER,
  LEADER,
  SHARD,
  freshPath,
  now,
  openLink,
  until,
  type ShipLink,
  type ShipLogShape,
} from './common.js';

/** The 1,000 events of every throughput batch (the encoder copies them, so they are reused). */
const bulkEvents: Uint8Array[] = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
  const event = new Uint8Array(EVENT_BYTES);
  for (let j = 0; j < EVENT_BYTES; j++) event[j] = (i * 31 + j * 7) & 0xff;
  return event;
});

let log: { wal: Wal; path: string[] } | undefined;
let shipping: { transport: Transport; shipper?: WalShipper; wal?: Wal; path?: string[]; commitAt?: Float64Array } | undefined;

/** Stops the round's shipper, closes its link and deletes its log (the built log stays). */
export async function closeShipping(): Promise<void> {
  const current = shipping;
  shipping = undefined;
  if (!current) return;
  current.shipper?.stop();
  current.transport.close();
  if (current.wal) await current.wal.close();
  if (current.path) await OpfsStorage.destroy(current.path);
}

/** The leader's part of the worker's API. */
export const leaderApi = {
  /** Leader: builds the log, batches of 1,000 × 100-byte events with 4 MiB segments (the default), until `sealed` segments are sealed. */
  async buildLog(sealed: number): Promise<ShipLogShape> {
    const path = freshPath('log');
    const { wal } = await Wal.open(await OpfsStorage.open(path), { shard: SHARD, durable: false });
    log = { wal, path };
    let batches = 0;
    while (wal.segments().filter((s) => s.sealed).length < sealed) {
      await wal.append(bulkEvents);
      batches++;
    }
    await wal.flush();
    const all = wal.segments();
    const sealedSegments = all.filter((s) => s.sealed);
    return {
      segments: all.length,
      sealed: sealedSegments.length,
      sealedBytes: sealedSegments.reduce((n, s) => n + s.bytes, 0),
      lastSealedLsn: sealedSegments[sealedSegments.length - 1]!.lastLsn,
      batches,
      batchBytes: all.reduce((n, s) => n + s.bytes, 0) / batches,
    };
  },

  /** Leader: copies of the sealed segments' bytes, transferred (for the follower's limit and breakdown). */
  async sealedSegmentBytes(): Promise<Uint8Array[]> {
    if (!log) throw new TidalError('InvalidArgument', 'no log: call buildLog first');
    const out: Uint8Array[] = [];
    for (const segment of log.wal.segments().filter((s) => s.sealed)) out.push(await log.wal.readSealedSegment(segment.id));
    return Comlink.transfer(
      out,
      out.map((s) => s.buffer as ArrayBuffer),
    );
  },

  /** Leader: attaches the link for a throughput round (the shipper starts with `startShipping`). */
  openLeaderLink(link: ShipLink): void {
    if (shipping) throw new TidalError('InvalidArgument', 'a round is already open');
    shipping = { transport: openLink(link, LEADER, FOLLOWER) };
  },

  /**
   * Leader: once the follower's hello has arrived (so that it cannot rewind
   * a send in flight), starts a fresh shipper over the built log and returns
   * the time of its start: the first send follows at once.
   */
  async startShipping(): Promise<number> {
    const round = shipping;
    if (!log || !round) throw new TidalError('InvalidArgument', 'call buildLog and openLeaderLink first');
    await until("the follower's hello", () => round.transport.counters.received >= 1);
    const shipper = new WalShipper({ wal: log.wal, transport: round.transport, followers: [FOLLOWER] });
    round.shipper = shipper;
    const startedAt = now();
    shipper.start();
    return startedAt;
  },

  /** Leader: stops the round's shipper and closes its link (the log stays). */
  closeLeaderRound: closeShipping,

  /** Leader: attaches the link of a lag round (before the follower opens: a BroadcastChannel does not keep messages for late listeners). */
  openLagLink(link: ShipLink): void {
    if (shipping) throw new TidalError('InvalidArgument', 'a round is already open');
    shipping = { transport: openLink(link, LEADER, FOLLOWER) };
  },

  /** Leader: once the follower's hello has arrived, a fresh durable WAL on OPFS and a shipper, recording each LSN's commit time. */
  async startLagLeader(): Promise<void> {
    const round = shipping;
    if (!round || round.wal) throw new TidalError('InvalidArgument', 'call openLagLink first, once');
    round.path = freshPath('lag-leader');
    const { wal } = await Wal.open(await OpfsStorage.open(round.path), { shard: SHARD });
    round.wal = wal;
    round.commitAt = new Float64Array(1 << 14);
    // Registered before the shipper's own listener: the time is taken before the batch is shipped.
    wal.onCommit((batch) => {
      const at = now();
      if (batch.lastLsn >= round.commitAt!.length) {
        const grown = new Float64Array(Math.max(round.commitAt!.length * 2, batch.lastLsn + 1));
        grown.set(round.commitAt!);
        round.commitAt = grown;
      }
      for (let lsn = batch.firstLsn; lsn <= batch.lastLsn; lsn++) round.commitAt![lsn] = at;
    });
    await until("the follower's hello", () => round.transport.counters.received >= 1);
    round.shipper = new WalShipper({ wal, transport: round.transport, followers: [FOLLOWER] });
    round.shipper.start();
  },

  /**
   * Leader: `ratePerS` single-event writes a second for `durationMs`, each
   * its own `append` (awaited, so each is its own batch and commit). Writes
   * that fall due while the worker waits for a timer are issued on waking,
   * one after another. Returns the commit time of every LSN (index = LSN)
   * and how the writes were spread over timer wake-ups.
   */
  async writeSteadily(
    ratePerS: number,
    durationMs: number,
  ): Promise<{ lastLsn: number; commitAt: Float64Array; wakeUps: number; largestBurst: number }> {
    const round = shipping;
    if (!round?.wal) throw new TidalError('InvalidArgument', 'no lag leader open');
    const wal = round.wal;
    const interval = 1000 / ratePerS;
    let issued = 0;
    let wakeUps = 0;
    let largestBurst = 0;
    const started = performance.now();
    for (;;) {
      const elapsed = performance.now() - started;
      if (elapsed >= durationMs) break;
      const due = Math.floor(elapsed / interval) + 1;
      const burst = due - issued;
      wakeUps++;
      largestBurst = Math.max(largestBurst, burst);
      while (issued < due) {
        issued++;
        await wal.append([{ op: 'increment', key: `item:${issued % 97}`, by: 1, seq: issued }]);
      }
      const wait = issued * interval - (performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
    const commitAt = round.commitAt!.slice(0, wal.lastLsn + 1);
    return Comlink.transfer({ lastLsn: wal.lastLsn, commitAt, wakeUps, largestBurst }, [commitAt.buffer]);
  },

  /** Leader: stops the lag round and deletes its log. */
  closeLagLeader: closeShipping,
};

/** Closes the leader's round and its built log. */
export async function closeLeader(): Promise<void> {
  await closeShipping();
  if (log) {
    await log.wal.close();
    log = undefined;
  }
}
