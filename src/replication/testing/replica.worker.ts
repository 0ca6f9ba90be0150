/**
 * A test-only module worker hosting one replica of a shard, driven over
 * comlink by the browser tests (`replication.browser.test.ts`) and the
 * two-tab e2e page (`e2e/pages/replication-tab.ts`):
 *
 * - a **leader**: a `Wal` on `OpfsStorage` in a fresh folder and a
 *   `WalShipper` over `DetachProbe` → `FaultyTransport` → the link
 *   (`MessagePortTransport` on a transferred port, or
 *   `BroadcastChannelTransport` on a channel name);
 * - or a **follower**: a `FollowerDb` on `OpfsStorage` in its own folder,
 *   applying into a `CheckedEventLog`.
 *
 *     const replica = Comlink.wrap<ReplicaWorkerApi>(new Worker(url, { type: 'module' }));
 *     await replica.startLeader(Comlink.transfer({ folder, shard: 0, link: { kind: 'port', port, local, remote }, follower: remote }, [port]));
 *     await replica.append(1000, 10);
 *
 * Comparing replicas: `state()` summarizes the replica's events as an
 * `EventLog` (the leader reads its log back; the follower has its state
 * machine) with a BLAKE3 digest of the encoding, so two replicas compare by
 * 32 bytes; `encodedState()` hands the encoding itself over.
 *
 * Not part of the library.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../../common/blake3.js';
import { TidalError } from '../../common/errors.js';
import type { PeerAddress } from '../../transport/address.js';
import { BroadcastChannelTransport } from '../../transport/broadcast-channel.js';
import { FaultyTransport, type FaultCounters, type FaultPosition, type SegmentFault } from '../../transport/faulty-transport.js';
import { MessagePortTransport } from '../../transport/message-port.js';
import type { Transport, TransportCounters } from '../../transport/transport.js';
import { OpfsStorage } from '../../wal/opfs-storage.js';
import type { Value } from '../../wal/payload.js';
import { Wal, type LsnRange } from '../../wal/wal.js';
import { FollowerDb, type FollowerCounters } from '../follower-db.js';
import { EventLog } from '../state-machine.js';
import { WalShipper, type WalShipperStats } from '../wal-shipper.js';
import { CheckedEventLog } from './checked-event-log.js';
import { DetachProbe, type DetachReport } from './detach-probe.js';

/** How the replica reaches its peer. */
export type ReplicaLink =
  | { readonly kind: 'port'; readonly port: MessagePort; readonly local: PeerAddress; readonly remote: PeerAddress }
  | { readonly kind: 'broadcast'; readonly channel: string; readonly local: PeerAddress; readonly remote: PeerAddress };

/** Settings shared by both roles. */
interface ReplicaConfigBase {
  /** OPFS folder of this replica's log, e.g. `['tidal-test', 'replication-<uuid>', 'leader']`; deleted by `stop()`. */
  readonly folder: readonly string[];
  readonly shard: number;
  readonly link: ReplicaLink;
  /** Segment size bound of the log. Default the WAL's (4 MiB). */
  readonly segmentBytes?: number;
}

/** A leader: its WAL, shipper and fault injection. */
export interface LeaderConfig extends ReplicaConfigBase {
  /** Seed of the `FaultyTransport` (positions of flips and truncations). Default 1. */
  readonly faultSeed?: number;
  /** `WalShipper` options. */
  readonly resendTimeoutMs?: number;
  readonly heartbeatMs?: number;
  readonly cacheBytes?: number;
  readonly maxInFlightBytes?: number;
  readonly maxPayloadBytes?: number;
  /** Start shipping only when `addFollower()` is called (a follower that joins late). Default false. */
  readonly followLater?: boolean;
}

/** A follower: its own log and state machine. */
export interface FollowerConfig extends ReplicaConfigBase {
  readonly stallTimeoutMs?: number;
  readonly requestIntervalMs?: number;
}

/** A replica's events, summarized for comparison. */
export interface ReplicaState {
  /** Events held. */
  readonly entries: number;
  /** LSN of the last event (0 when none). */
  readonly lastLsn: number;
  /** True when the LSNs are exactly 1..entries, in order. */
  readonly dense: boolean;
  /** BLAKE3-256 of `EventLog.encode()` of the events. */
  readonly digest: Uint8Array;
  /** Size of that encoding. */
  readonly encodedBytes: number;
}

/** What a leader reports. */
export interface LeaderStats {
  readonly role: 'leader';
  readonly lastLsn: number;
  readonly shipper: WalShipperStats;
  readonly faults: FaultCounters;
  readonly pendingFaults: readonly SegmentFault[];
  readonly transport: TransportCounters;
  readonly detach: DetachReport;
  readonly sealedSegments: number;
}

/** What a follower reports. */
export interface FollowerStats {
  readonly role: 'follower';
  readonly appliedLsn: number;
  readonly counters: FollowerCounters;
  readonly lag: { readonly lsns: number; readonly ms: number };
  readonly transport: TransportCounters;
  /** Applies that broke exactly-once, in-order delivery (`CheckedEventLog`). */
  readonly violations: readonly string[];
  readonly violationCount: number;
  /** Why the follower stopped on its own, if it did. */
  readonly failed: string | undefined;
}

/** A deterministic event for LSN `i`: several shapes, so the payload encoding is exercised. */
function replicaTestEvent(i: number): Value {
  switch (i % 4) {
    case 0:
      return { op: 'increment', key: `item:${i % 97}`, kind: 'view', by: (i % 5) + 1, at: i };
    case 1:
      return { op: 'put', key: `k${i % 31}`, value: `v-${i}`, tags: ['a', String(i)] };
    case 2:
      return ['pair', i, -i, i / 7];
    default:
      return { op: 'blob', bytes: new Uint8Array([i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff]), big: BigInt(i) * 1_000_003n };
  }
}

interface LeaderRole {
  readonly kind: 'leader';
  readonly wal: Wal;
  readonly faulty: FaultyTransport;
  readonly probe: DetachProbe;
  readonly shipper: WalShipper;
  readonly follower: PeerAddress;
}

interface FollowerRole {
  readonly kind: 'follower';
  readonly follower: FollowerDb;
  readonly stateMachine: CheckedEventLog;
  readonly transport: Transport;
  readonly segmentBytes: number | undefined;
}

let role: LeaderRole | FollowerRole | undefined;
let storage: OpfsStorage | undefined;
let folder: readonly string[] = [];
let shard = 0;

function openLink(link: ReplicaLink): Transport {
  if (link.kind === 'port') return new MessagePortTransport(link.port, { local: link.local, remote: link.remote });
  return new BroadcastChannelTransport(new BroadcastChannel(link.channel), { local: link.local, peers: [link.remote] });
}

function leader(): LeaderRole {
  if (role?.kind !== 'leader')
    throw new TidalError('InvalidArgument', `this replica is ${role ? 'a follower' : 'not started'}, not a leader`);
  return role;
}

function follower(): FollowerRole {
  if (role?.kind !== 'follower')
    throw new TidalError('InvalidArgument', `this replica is ${role ? 'a leader' : 'not started'}, not a follower`);
  return role;
}

async function summarize(log: EventLog): Promise<{ state: ReplicaState; encoded: Uint8Array }> {
  const encoded = log.encode();
  const b3 = await loadBlake3();
  const dense = log.entries.every((entry, i) => entry.lsn === i + 1);
  return {
    encoded,
    state: {
      entries: log.entries.length,
      lastLsn: log.entries[log.entries.length - 1]?.lsn ?? 0,
      dense,
      digest: b3.hash(encoded),
      encodedBytes: encoded.length,
    },
  };
}

async function currentLog(): Promise<EventLog> {
  if (role?.kind === 'follower') return role.stateMachine;
  const log = new EventLog();
  for await (const { lsn, event } of leader().wal.read(1)) log.apply(lsn, event);
  return log;
}

/** BLAKE3 of every batch of `wal`, in order, exactly as stored (the log's content, whatever its segment headers). */
async function batchesDigest(wal: Wal): Promise<{ batches: number; bytes: number; digest: Uint8Array }> {
  const hasher = await (await loadBlake3()).incremental();
  let batches = 0;
  let bytes = 0;
  for await (const batch of wal.readBatches(1)) {
    hasher.update(batch.bytes);
    batches++;
    bytes += batch.bytes.length;
  }
  return { batches, bytes, digest: hasher.digest() };
}

const api = {
  /** Opens a fresh log in `config.folder` and starts shipping it to `config.link.remote`. */
  async startLeader(config: LeaderConfig): Promise<void> {
    if (role) throw new TidalError('InvalidArgument', 'this worker already hosts a replica');
    folder = config.folder;
    shard = config.shard;
    await OpfsStorage.destroy([...folder]);
    storage = await OpfsStorage.open([...folder]);
    const { wal } = await Wal.open(storage, { shard, ...(config.segmentBytes ? { segmentBytes: config.segmentBytes } : {}) });
    const faulty = new FaultyTransport(openLink(config.link), { seed: config.faultSeed ?? 1 });
    const probe = new DetachProbe(faulty);
    const shipper = new WalShipper({
      wal,
      transport: probe,
      followers: config.followLater ? [] : [config.link.remote],
      ...(config.resendTimeoutMs ? { resendTimeoutMs: config.resendTimeoutMs } : {}),
      ...(config.heartbeatMs ? { heartbeatMs: config.heartbeatMs } : {}),
      ...(config.cacheBytes ? { cacheBytes: config.cacheBytes } : {}),
      ...(config.maxInFlightBytes ? { maxInFlightBytes: config.maxInFlightBytes } : {}),
      ...(config.maxPayloadBytes ? { maxPayloadBytes: config.maxPayloadBytes } : {}),
    });
    shipper.start();
    role = { kind: 'leader', wal, faulty, probe, shipper, follower: config.link.remote };
  },

  /** Leader started with `followLater`: starts shipping to the follower, from LSN 1. */
  addFollower(): void {
    const { shipper, follower: address } = leader();
    shipper.addFollower(address);
  },

  /** Opens (or reopens) a follower copy in `config.folder`, following `config.link.remote`. */
  async startFollower(config: FollowerConfig): Promise<{ appliedLsn: number }> {
    if (role) throw new TidalError('InvalidArgument', 'this worker already hosts a replica');
    folder = config.folder;
    shard = config.shard;
    storage = await OpfsStorage.open([...folder]);
    const stateMachine = new CheckedEventLog();
    const transport = openLink(config.link);
    const db = await FollowerDb.open({
      storage,
      shard,
      transport,
      leader: config.link.remote,
      stateMachine,
      ...(config.segmentBytes ? { segmentBytes: config.segmentBytes } : {}),
      ...(config.stallTimeoutMs ? { stallTimeoutMs: config.stallTimeoutMs } : {}),
      ...(config.requestIntervalMs ? { requestIntervalMs: config.requestIntervalMs } : {}),
    });
    role = { kind: 'follower', follower: db, stateMachine, transport, segmentBytes: config.segmentBytes };
    return { appliedLsn: db.appliedLsn };
  },

  /** Leader: appends `count` events (`replicaTestEvent(lsn)`), `perBatch` per awaited `append`. */
  async append(count: number, perBatch: number): Promise<LsnRange> {
    const { wal } = leader();
    if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(perBatch) || perBatch < 1) {
      throw new TidalError('InvalidArgument', `append needs positive integer count and perBatch, got ${count}, ${perBatch}`);
    }
    const first = wal.nextLsn;
    for (let done = 0; done < count;) {
      const n = Math.min(perBatch, count - done);
      const events = Array.from({ length: n }, (_, k) => replicaTestEvent(first + done + k));
      await wal.append(events);
      done += n;
    }
    return { first, last: wal.lastLsn };
  },

  /** Leader: the next segment sent gets `fault`. */
  injectNext(fault: SegmentFault, position: FaultPosition = {}): void {
    leader().faulty.injectNext(fault, position);
  },

  /** Leader: sends a segment held back by a `reorder` now. */
  async releaseHeld(): Promise<void> {
    await leader().faulty.releaseHeld();
  },

  /** Follower: resolves once `lsn` is applied. */
  whenApplied(lsn: number, timeoutMs = 30_000): Promise<void> {
    return follower().follower.whenApplied(lsn, timeoutMs);
  },

  /** Counters of whichever role this worker hosts. */
  stats(): LeaderStats | FollowerStats {
    if (role?.kind === 'follower') {
      const { follower: db, stateMachine, transport } = role;
      return {
        role: 'follower',
        appliedLsn: db.appliedLsn,
        counters: { ...db.counters },
        lag: db.lag,
        transport: transport.counters,
        violations: [...stateMachine.violations],
        violationCount: stateMachine.violationCount,
        failed: db.failed?.message,
      };
    }
    const { wal, shipper, faulty, probe } = leader();
    return {
      role: 'leader',
      lastLsn: wal.lastLsn,
      shipper: shipper.stats(),
      faults: faulty.faults,
      pendingFaults: faulty.pendingFaults,
      transport: faulty.counters,
      detach: probe.report(),
      sealedSegments: wal.segments().filter((s) => s.sealed).length,
    };
  },

  /** The replica's events, summarized (see `ReplicaState`). */
  async state(): Promise<ReplicaState> {
    return (await summarize(await currentLog())).state;
  },

  /** `EventLog.encode()` of the replica's events, transferred. */
  async encodedState(): Promise<Uint8Array> {
    const { encoded } = await summarize(await currentLog());
    return Comlink.transfer(encoded, [encoded.buffer]);
  },

  /**
   * BLAKE3 over every batch of the replica's log, exactly as stored. A
   * follower is closed first (its log is reopened read-only for this), so
   * this ends its following.
   */
  async logDigest(): Promise<{ batches: number; bytes: number; digest: Uint8Array }> {
    if (role?.kind === 'leader') return batchesDigest(role.wal);
    const { follower: db, segmentBytes } = follower();
    await db.close();
    const { wal } = await Wal.open(storage!, { shard, ...(segmentBytes ? { segmentBytes } : {}) });
    try {
      return await batchesDigest(wal);
    } finally {
      await wal.close();
    }
  },

  /** Stops the replica, closes its log and link, and deletes its OPFS folder. Idempotent. */
  async stop(): Promise<void> {
    const current = role;
    role = undefined;
    if (current?.kind === 'leader') {
      current.shipper.stop();
      current.probe.close();
      await current.wal.close();
    } else if (current?.kind === 'follower') {
      await current.follower.close();
    }
    if (folder.length > 0) await OpfsStorage.destroy([...folder]);
  },
};

/** The worker's comlink API. */
export type ReplicaWorkerApi = typeof api;

Comlink.expose(api);
