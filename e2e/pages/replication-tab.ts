/**
 * One tab of the two-tab replication e2e test (`e2e/replication-tabs.spec.ts`).
 * The tab hosts one replica of a shard in a module worker
 * (`src/replication/testing/replica.worker.ts`): the leader (its WAL on
 * OPFS, a `WalShipper` over a `FaultyTransport` over a
 * `BroadcastChannelTransport`) or a follower (a `FollowerDb` on its own
 * OPFS folder). Tabs of one browser context share the origin's OPFS and
 * BroadcastChannels, so each replica gets its own folder, and every message
 * names its sender and addressee.
 *
 * It exposes `window.tidalReplicaTab`, driven by the spec with
 * `page.evaluate`; everything it returns is plain JSON (digests as hex).
 *
 * ```ts
 * await page.goto('/e2e/pages/replication-tab.html');
 * await page.waitForFunction(() => 'tidalReplicaTab' in window);
 * await page.evaluate((o) => window.tidalReplicaTab.startLeader(o), { channel, folder, local, remote });
 * ```
 */
import * as Comlink from 'comlink';
import type { PeerAddress } from '../../src/transport/address.js';
import type { SegmentFault } from '../../src/transport/faulty-transport.js';
import type { FollowerStats, LeaderStats, ReplicaWorkerApi } from '../../src/replication/testing/replica.worker.js';

/** Where a replica lives and whom it talks to. */
export interface TabReplicaOptions {
  /** The BroadcastChannel name, e.g. `tidal:e2e-<random>:replication`. */
  channel: string;
  /** OPFS folder path of this replica's log (deleted by `stop`). */
  folder: string[];
  shard: number;
  local: PeerAddress;
  remote: PeerAddress;
}

/** A replica's events, summarized, as JSON. */
export interface TabReplicaState {
  entries: number;
  lastLsn: number;
  dense: boolean;
  digestHex: string;
  encodedBytes: number;
}

/** What the page exposes on `window.tidalReplicaTab`. */
export interface TidalReplicaTab {
  /** Starts the leader in a worker of this tab. */
  startLeader(options: TabReplicaOptions): Promise<void>;
  /** Starts a follower in a worker of this tab; resolves with the LSN its own log already held. */
  startFollower(options: TabReplicaOptions): Promise<{ appliedLsn: number }>;
  /** Leader: appends `count` events, `perBatch` per append. */
  append(count: number, perBatch: number): Promise<{ first: number; last: number }>;
  /** Leader: the next segment sent gets `fault`. */
  injectNext(fault: SegmentFault): Promise<void>;
  /** Follower: resolves once `lsn` is applied. */
  whenApplied(lsn: number, timeoutMs?: number): Promise<void>;
  stats(): Promise<LeaderStats | FollowerStats>;
  state(): Promise<TabReplicaState>;
  /** Stops the replica and deletes its folder. */
  stop(): Promise<void>;
}

declare global {
  interface Window {
    /** Set once the page has loaded; wait for `'tidalReplicaTab' in window`. */
    tidalReplicaTab: TidalReplicaTab;
  }
}

/** Short timeouts, so that a rejected payload is sent again quickly. */
const LEADER_TIMING = { resendTimeoutMs: 300, heartbeatMs: 50 };
const FOLLOWER_TIMING = { stallTimeoutMs: 300, requestIntervalMs: 20 };

const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

let replica: Comlink.Remote<ReplicaWorkerApi> | undefined;

/** Starts a replica worker and runs `start` on it; a failed start terminates the worker, so the tab can try again. */
async function startReplica<T>(start: (remote: Comlink.Remote<ReplicaWorkerApi>) => Promise<T>): Promise<T> {
  if (replica) throw new Error('this tab already hosts a replica');
  const worker = new Worker(new URL('../../src/replication/testing/replica.worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<ReplicaWorkerApi>(worker);
  replica = remote;
  try {
    return await start(remote);
  } catch (error) {
    replica = undefined;
    remote[Comlink.releaseProxy]();
    worker.terminate();
    throw error;
  }
}

function started(): Comlink.Remote<ReplicaWorkerApi> {
  if (!replica) throw new Error('no replica started in this tab');
  return replica;
}

const tab: TidalReplicaTab = {
  startLeader: ({ channel, folder, shard, local, remote }) =>
    startReplica((r) => r.startLeader({ folder, shard, link: { kind: 'broadcast', channel, local, remote }, ...LEADER_TIMING })),
  startFollower: ({ channel, folder, shard, local, remote }) =>
    startReplica((r) => r.startFollower({ folder, shard, link: { kind: 'broadcast', channel, local, remote }, ...FOLLOWER_TIMING })),
  append: (count, perBatch) => started().append(count, perBatch),
  injectNext: (fault) => started().injectNext(fault),
  whenApplied: (lsn, timeoutMs) => started().whenApplied(lsn, timeoutMs),
  stats: () => started().stats(),
  async state() {
    const { digest, ...rest } = await started().state();
    return { ...rest, digestHex: toHex(digest) };
  },
  async stop() {
    await replica?.stop();
  },
};

window.tidalReplicaTab = tab;
const status = document.getElementById('status');
if (status) status.textContent = 'ready';
