/**
 * The worker side of the `ship` bench suite (`ship.ts`): one module, two
 * roles, each in its own dedicated worker (OPFS sync handles exist only
 * there), driven over comlink by the suite.
 *
 * - **Leader**: a WAL on OPFS and a `WalShipper` over a link to the
 *   follower worker (a `MessagePort`, transferring or cloning, or a
 *   `BroadcastChannel`).
 * - **Follower**: a `FollowerDb` on OPFS (its own folder, durable: the
 *   library default) applying into a state machine that only records time:
 *   `MarkStateMachine` (a no-op but for the time the marked LSN is applied)
 *   for throughput, `ApplyTimes` (the time each LSN is applied) for lag.
 *
 * Times that cross realms are `performance.timeOrigin + performance.now()`
 * (ms since the epoch, sub-ms resolution); the suite checks that the
 * workers' clocks agree with its own before it trusts a difference.
 *
 * The follower role also measures, on the same segment bytes, what its
 * receive path is made of (BLAKE3 alone, the segment scan, event decoding,
 * the copy into its own WAL), so that a missed target can be explained.
 * Every file lives under `tidal-bench/ship-<uuid>/`, deleted by `cleanup()`.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../../src/common/blake3.js';
import { TidalError } from '../../src/common/errors.js';
import { FollowerDb } from '../../src/replication/follower-db.js';
import { encodeControl } from '../../src/replication/messages.js';
import { verifyPayload } from '../../src/replication/verify-payload.js';
import type { StateMachine } from '../../src/replication/state-machine.js';
import { WalShipper } from '../../src/replication/wal-shipper.js';
import { sameAddress, type PeerAddress } from '../../src/transport/address.js';
import { BroadcastChannelTransport } from '../../src/transport/broadcast-channel.js';
import { EndpointTransport } from '../../src/transport/endpoint-transport.js';
import { MessagePortTransport } from '../../src/transport/message-port.js';
import type { Transport } from '../../src/transport/transport.js';
import { TransportDecorator } from '../../src/transport/transport-decorator.js';
import { decodeBatch } from '../../src/wal/format.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { decodePayload, type Value } from '../../src/wal/payload.js';
import { scanSegment } from '../../src/wal/segment-scan.js';
import { WalSegmentId } from '../../src/wal/segment-id.js';
import { Wal } from '../../src/wal/wal.js';

const ROOT = 'tidal-bench';
const SHARD = 0;
/** The leader's and the follower's addresses on every link. */
const LEADER: PeerAddress = Object.freeze({ shard: SHARD, replica: 'leader' });
const FOLLOWER: PeerAddress = Object.freeze({ shard: SHARD, replica: 'follower' });
const EVENTS_PER_BATCH = 1_000;
const EVENT_BYTES = 100;
const MB = 1e6;

/** Milliseconds since the epoch, comparable across the realms of this page. */
const now = (): number => performance.timeOrigin + performance.now();

/** How a role reaches the other worker. */
export type ShipLink =
  { readonly kind: 'port'; readonly port: MessagePort; readonly copy?: boolean } | { readonly kind: 'broadcast'; readonly channel: string };

/** The throughput log, as built. */
export interface ShipLogShape {
  readonly segments: number;
  readonly sealed: number;
  /** Bytes of the sealed segments (what is timed). */
  readonly sealedBytes: number;
  /** The last LSN of the last sealed segment. */
  readonly lastSealedLsn: number;
  readonly batches: number;
  readonly batchBytes: number;
}

/** What one throughput round saw at the follower. */
export interface ShipRoundResult {
  /** When the last LSN of the last sealed segment was applied. */
  readonly appliedAt: number;
  readonly bytesVerified: number;
  readonly payloadsApplied: number;
  readonly payloadsRejected: number;
  readonly duplicates: number;
  /** Time the follower spent waiting for segments (ready for more, none there), from the round's first wait on. */
  readonly idleMs: number;
}

/** The follower's receive path taken apart, over the sealed segments, MB/s each. */
export interface ReceivePathBreakdown {
  /** hash-wasm BLAKE3 alone over every segment byte (`limit.blake3.receiver`). */
  readonly blake3: number;
  /** `scanSegment`: the footer digest over the segment and the batch walk (what FollowerDb verifies). */
  readonly scan: number;
  /** `decodeBatch` (no digest: the footer covered it) and `decodePayload` of every batch: the events FollowerDb decodes. */
  readonly decode: number;
  /** `Wal.importBatches` of every batch into a fresh durable WAL on OPFS, one call (and one flush) per segment. */
  readonly importWal: number;
  /** Each segment written whole to a fresh OPFS file (open, one write, one flush, close): what storing a verified sealed segment verbatim would cost. */
  readonly writeWhole: number;
}

/** Records when one marked LSN is applied; otherwise does nothing (a no-op state machine). */
class MarkStateMachine implements StateMachine {
  appliedAt = 0;
  events = 0;
  private readonly mark: number;
  constructor(mark: number) {
    this.mark = mark;
  }
  apply(lsn: number, _event: Value): void {
    this.events++;
    if (lsn === this.mark) this.appliedAt = now();
  }
}

/** Records when each LSN is applied (for lag). */
class ApplyTimes implements StateMachine {
  times = new Float64Array(1 << 14);
  apply(lsn: number, _event: Value): void {
    if (lsn >= this.times.length) {
      const grown = new Float64Array(Math.max(this.times.length * 2, lsn + 1));
      grown.set(this.times);
      this.times = grown;
    }
    this.times[lsn] = now();
  }
}

/**
 * Measures how long the follower waits for segments: the time from each
 * `recvSegment()` call (FollowerDb is ready for more) to its resolution.
 * Everything else of a round is the follower's own work.
 */
class IdleMeter extends TransportDecorator {
  idleMs = 0;
  private since = 0;
  override async recvSegment() {
    const asked = performance.now();
    const segment = await super.recvSegment();
    this.idleMs += performance.now() - Math.max(asked, this.since);
    return segment;
  }
  /** Counts from now on only. */
  reset(): void {
    this.idleMs = 0;
    this.since = performance.now();
  }
}

const runFolder = `ship-${crypto.randomUUID()}`;
let folders = 0;
const freshPath = (what: string): string[] => [ROOT, runFolder, `${what}-${folders++}`];

function openLink(link: ShipLink, local: PeerAddress, remote: PeerAddress): Transport {
  if (link.kind === 'broadcast') return new BroadcastChannelTransport(new BroadcastChannel(link.channel), { local, peers: [remote] });
  if (!link.copy) return new MessagePortTransport(link.port, { local, remote });
  // The same transport code with the carrier cloning: postMessage without a transfer list copies the buffer.
  return new EndpointTransport({
    local,
    endpoint: link.port,
    transfer: false,
    canReach: (to) => sameAddress(to, remote),
    acceptFrom: (from) => sameAddress(from, remote),
  });
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > timeoutMs) throw new TidalError('Timeout', `${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// ------------------------------------------------------------------ leader

/** The 1,000 events of every throughput batch (the encoder copies them, so they are reused). */
const bulkEvents: Uint8Array[] = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
  const event = new Uint8Array(EVENT_BYTES);
  for (let j = 0; j < EVENT_BYTES; j++) event[j] = (i * 31 + j * 7) & 0xff;
  return event;
});

let log: { wal: Wal; path: string[] } | undefined;
let shipping: { transport: Transport; shipper?: WalShipper; wal?: Wal; path?: string[]; commitAt?: Float64Array } | undefined;

// ---------------------------------------------------------------- follower

let following:
  { db: FollowerDb; path: string[]; mark?: MarkStateMachine; times?: ApplyTimes; meter?: IdleMeter; openedAt?: number } | undefined;
let segments: Uint8Array[] = [];

/**
 * The shipping metric's receiver: verifies each payload exactly as
 * FollowerDb does on receipt (`verifyPayload`: BLAKE3 over views of the
 * received buffer, then the batch walk) and acknowledges it, so the
 * shipper's in-flight window moves; it does not decode, store or apply.
 */
let verifying: { transport: Transport; verifiedAt: number; bytes: number; done: Promise<void> } | undefined;

async function closeVerifying(): Promise<void> {
  const current = verifying;
  verifying = undefined;
  current?.transport.close();
  await current?.done.catch(() => undefined);
}

async function closeFollowing(): Promise<void> {
  const current = following;
  following = undefined;
  if (!current) return;
  await current.db.close();
  await OpfsStorage.destroy(current.path);
}

async function closeShipping(): Promise<void> {
  const current = shipping;
  shipping = undefined;
  if (!current) return;
  current.shipper?.stop();
  current.transport.close();
  if (current.wal) await current.wal.close();
  if (current.path) await OpfsStorage.destroy(current.path);
}

function mbPerS(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

const api = {
  /** This realm's clock, for the suite's cross-realm check. */
  now,

  /** Loads BLAKE3 (so that no round pays for its instantiation). */
  async warmUp(): Promise<void> {
    await loadBlake3();
  },

  // ---- leader: throughput

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

  // ---- follower: throughput

  /** Follower: opens a fresh FollowerDb on OPFS over `link`, marking `markLsn`. */
  async openFollower(link: ShipLink, markLsn: number): Promise<void> {
    if (following) throw new TidalError('InvalidArgument', 'a follower is already open');
    const path = freshPath('follower');
    const mark = new MarkStateMachine(markLsn);
    const meter = new IdleMeter(openLink(link, FOLLOWER, LEADER));
    const db = await FollowerDb.open({
      storage: await OpfsStorage.open(path),
      shard: SHARD,
      transport: meter,
      leader: LEADER,
      stateMachine: mark,
    });
    following = { db, path, mark, meter };
  },

  /** Follower: waits until the marked LSN is applied; when it was, and the counters. */
  async followerRound(markLsn: number): Promise<ShipRoundResult> {
    const current = following;
    if (!current?.mark) throw new TidalError('InvalidArgument', 'no throughput follower open');
    current.meter!.reset(); // counted from here: the shipper has just started
    await current.db.whenApplied(markLsn, 120_000);
    const { bytesVerified, payloadsApplied, payloadsRejected, duplicates } = current.db.counters;
    return {
      appliedAt: current.mark.appliedAt,
      bytesVerified,
      payloadsApplied,
      payloadsRejected,
      duplicates,
      idleMs: current.meter!.idleMs,
    };
  },

  /** Follower: closes the FollowerDb and deletes its folder. */
  closeFollower: closeFollowing,

  /** Verifier: starts receiving over `link`, verifying (and acknowledging) every payload until `markLsn` is verified. */
  async openVerifier(link: ShipLink, markLsn: number): Promise<void> {
    if (verifying) throw new TidalError('InvalidArgument', 'a verifier is already open');
    const b3 = await loadBlake3();
    const transport = openLink(link, FOLLOWER, LEADER);
    const state = { transport, verifiedAt: 0, bytes: 0, done: Promise.resolve() };
    state.done = (async () => {
      for (;;) {
        const segment = await transport.recvSegment();
        if (segment === null) return;
        const batches = verifyPayload(b3, segment, SHARD);
        state.bytes += segment.bytes.byteLength;
        const last = batches[batches.length - 1]!.lastLsn;
        if (last >= markLsn && state.verifiedAt === 0) state.verifiedAt = now();
        await transport.sendControl(LEADER, encodeControl({ type: 'ack', shard: SHARD, appliedLsn: last }));
      }
    })();
    verifying = state;
    await transport.sendControl(LEADER, encodeControl({ type: 'request', shard: SHARD, fromLsn: 1, reason: 'hello' }));
  },

  /** Verifier: waits until the marked LSN is verified; when that was, and the bytes verified. */
  async verifierRound(): Promise<{ verifiedAt: number; bytesVerified: number }> {
    const current = verifying;
    if (!current) throw new TidalError('InvalidArgument', 'no verifier open');
    await until('the last sealed segment verified', () => current.verifiedAt > 0, 120_000);
    return { verifiedAt: current.verifiedAt, bytesVerified: current.bytes };
  },

  /** Verifier: stops receiving. */
  closeVerifier: closeVerifying,

  /** Follower: keeps `bytes` (the leader's sealed segments) for the limit and the breakdown. */
  setSegments(bytes: Uint8Array[]): void {
    segments = bytes;
  },

  /** Follower: `limit.blake3.receiver`, one round: hash-wasm BLAKE3 over each kept segment, MB/s. */
  async blake3Round(): Promise<number> {
    const b3 = await loadBlake3();
    let bytes = 0;
    const started = performance.now();
    for (const segment of segments) {
      b3.hash(segment);
      bytes += segment.length;
    }
    return mbPerS(bytes, performance.now() - started);
  },

  /** Follower: the receive path taken apart over the kept segments (see `ReceivePathBreakdown`). */
  async breakdown(): Promise<ReceivePathBreakdown> {
    const b3 = await loadBlake3();
    const total = segments.reduce((n, s) => n + s.length, 0);
    let started = performance.now();
    for (const segment of segments) b3.hash(segment);
    const blake3 = mbPerS(total, performance.now() - started);

    const offsets: number[][] = [];
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const scan = scanSegment(b3, segment, new WalSegmentId(SHARD, BigInt(i)), false);
      if (scan.kind !== 'good' || !scan.sealed) throw new TidalError('Corrupt', `segment ${i} does not scan as sealed`);
      offsets.push([...scan.index.offsets]);
    }
    const scan = mbPerS(total, performance.now() - started);

    const batches: Uint8Array[][] = [];
    let events = 0;
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const views: Uint8Array[] = [];
      for (const start of offsets[i]!) {
        const { header, payloadStart, end } = decodeBatch(b3, segment, start, { verify: false });
        events += decodePayload(segment.subarray(payloadStart, end), header.eventCount).length;
        views.push(segment.subarray(start, end));
      }
      batches.push(views);
    }
    const decode = mbPerS(total, performance.now() - started);
    if (events === 0) throw new TidalError('Corrupt', 'no events decoded');

    const path = freshPath('import');
    const storage = await OpfsStorage.open(path);
    const { wal } = await Wal.open(storage, { shard: SHARD });
    let importWal: number;
    try {
      started = performance.now();
      for (const views of batches) await wal.importBatches(views);
      importWal = mbPerS(total, performance.now() - started);
    } finally {
      await wal.close();
    }
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const file = await storage.open(`whole-${i}.wal`, { create: true });
      try {
        file.write(segment, 0);
        file.flush();
      } finally {
        file.close();
      }
    }
    const writeWhole = mbPerS(total, performance.now() - started);
    await OpfsStorage.destroy(path);
    return { blake3, scan, decode, importWal, writeWhole };
  },

  // ---- lag

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

  /** Follower: a fresh FollowerDb on OPFS over `link`, recording each LSN's apply time. */
  async openLagFollower(link: ShipLink): Promise<void> {
    if (following) throw new TidalError('InvalidArgument', 'a follower is already open');
    const path = freshPath('lag-follower');
    const times = new ApplyTimes();
    const db = await FollowerDb.open({
      storage: await OpfsStorage.open(path),
      shard: SHARD,
      transport: openLink(link, FOLLOWER, LEADER),
      leader: LEADER,
      stateMachine: times,
    });
    following = { db, path, times };
  },

  /** Follower: waits for `lastLsn`, then returns each LSN's apply time (index = LSN). */
  async applyTimes(lastLsn: number): Promise<{ applyAt: Float64Array; rejected: number; gaps: number; duplicates: number }> {
    const current = following;
    if (!current?.times) throw new TidalError('InvalidArgument', 'no lag follower open');
    await current.db.whenApplied(lastLsn, 30_000);
    const applyAt = current.times.times.slice(0, lastLsn + 1);
    const { payloadsRejected: rejected, gaps, duplicates } = current.db.counters;
    return Comlink.transfer({ applyAt, rejected, gaps, duplicates }, [applyAt.buffer]);
  },

  /** Follower: closes the lag follower and deletes its folder. */
  closeLagFollower: closeFollowing,

  /** Closes whatever is open and deletes this worker's folders. */
  async cleanup(): Promise<void> {
    await closeVerifying();
    await closeShipping();
    await closeFollowing();
    if (log) {
      await log.wal.close();
      log = undefined;
    }
    segments = [];
    await OpfsStorage.destroy([ROOT, runFolder]);
  },
};

/** The worker's comlink API. */
export type ShipBenchWorker = typeof api;

Comlink.expose(api);
