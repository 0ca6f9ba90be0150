/**
 * `db.stats()`: each shard's status as its worker reports it, with the
 * counters kept cumulative here. A worker's verification and refusal
 * counters start again at 0 when it restarts or a replica is replaced;
 * the tab keeps them per worker incarnation and replica, credited each to
 * its own shard, and remembers a shard's last status for while its worker
 * does not answer.
 */
import { withTimeout, type Clock } from '../common/clock.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardStats, TidalStats } from './api.js';
import type { ShardHostStatus } from './shard-host-config.js';
import type { ShardSlot } from './shard-slot.js';
import { VerificationTally } from './verification-tally.js';
import { PING_TIMEOUT_MS } from './worker-supervisor.js';

/** Collects a tab's `TidalStats` from its shards' workers. */
export class DatabaseStats {
  private readonly tabId: string;
  private readonly storage: 'opfs' | 'memory';
  private readonly slots: readonly ShardSlot[];
  private readonly clock: Clock;
  private readonly tally = new VerificationTally();
  /** Per worker incarnation: its shard and the channel messages it refused (each counts from 0). */
  private readonly refused = new Map<string, { shard: ShardId; count: number }>();
  /** Each shard's last status, for `stats()` while its worker does not answer. */
  private readonly lastStatus: (ShardHostStatus | undefined)[] = [];
  /** The answer to `navigator.storage.persist()`, asked once on OPFS. */
  private readonly persisted: Promise<boolean | undefined>;

  constructor(options: { tabId: string; storage: 'opfs' | 'memory'; slots: readonly ShardSlot[]; clock: Clock }) {
    this.tabId = options.tabId;
    this.storage = options.storage;
    this.slots = options.slots;
    this.clock = options.clock;
    this.persisted = this.storage === 'opfs' ? askPersistence() : Promise.resolve(undefined);
  }

  /** Asks every worker for its status (a silent one counts as `starting`) and sums up. */
  async collect(): Promise<TidalStats> {
    const statuses = await Promise.all(
      this.slots.map((slot) => withTimeout(this.clock, slot.host.status(), PING_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined)),
    );
    for (const status of statuses) {
      if (!status) continue;
      this.refused.set(status.refused.host, { shard: status.shard, count: status.refused.count });
      if (status.followerId) this.tally.observe(status.followerId, status.shard, status.bytesVerified, status.payloadsRejected);
      const inTab = status.inTabFollower;
      if (inTab) this.tally.observe(inTab.id, inTab.shard, inTab.bytesVerified, inTab.payloadsRejected);
    }
    const shards = this.slots.map((slot, i): ShardStats => {
      const status = statuses[i];
      if (status) this.lastStatus[i] = status;
      const known = status ?? this.lastStatus[i];
      return {
        shard: slot.shard,
        role: status?.role ?? 'starting', // a worker that does not answer now is being restarted
        leaderTab: known?.leaderTab,
        lsn: known?.lsn ?? 0,
        appliedLsn: known?.appliedLsn ?? 0,
        lag: known?.lag ?? { lsns: 0, ms: 0 },
        segments: known?.segments ?? 0,
        logBytes: known?.logBytes ?? 0,
        snapshotLsn: known?.snapshotLsn ?? 0,
        snapshotBytes: known?.snapshotBytes ?? 0,
        opened: known?.opened,
        bytesVerified: this.tally.bytesVerified(slot.shard),
        payloadsRejected: this.tally.payloadsRejected(slot.shard),
        messagesRefused: [...this.refused.values()].reduce((n, r) => (r.shard === slot.shard ? n + r.count : n), 0),
        restarts: slot.restarts,
      };
    });
    return { tab: this.tabId, storage: this.storage, persisted: await this.persisted, estimate: await storageEstimate(), shards };
  }
}

/** Asks the browser to keep the origin's storage under pressure; `undefined` where it cannot be asked or the asking failed. */
async function askPersistence(): Promise<boolean | undefined> {
  try {
    return typeof navigator.storage?.persist === 'function' ? await navigator.storage.persist() : undefined;
  } catch {
    return undefined;
  }
}

/** `navigator.storage.estimate()`, or `undefined` where unavailable. */
async function storageEstimate(): Promise<{ usage: number; quota: number } | undefined> {
  try {
    if (typeof navigator.storage?.estimate !== 'function') return undefined;
    const { usage, quota } = await navigator.storage.estimate();
    return usage === undefined || quota === undefined ? undefined : { usage, quota };
  } catch {
    return undefined;
  }
}
