/**
 * `Database`: the `TidalDb` that `openTidal` returns, the public API over
 * the shard workers. Writes go through each shard's `SessionWriter`
 * (exactly once, resent across restarts and failover) and its
 * `TickBatcher` (one message per shard per tick); reads go to the shard's
 * worker, ordered after what this tab's session has seen; subscriptions
 * are dispatched from the workers' change feeds.
 */
import * as Comlink from 'comlink';
import { sleep, withTimeout, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { ShardRouter } from '../shard/router.js';
import type { ShardId } from '../shard/shard-id.js';
import { SessionWriter } from '../session/session-writer.js';
import { assertIdempotencyKey, validateBuiltOperation, type ClientOperation, type WriteToken } from '../session/write.js';
import type { Value } from '../wal/payload.js';
import type {
  Change,
  Entity,
  ReadOptions,
  ShardStats,
  ShardSyncStats,
  TidalDb,
  TidalDebug,
  TidalStats,
  TidalSync,
  TidalSyncStats,
  TidalTransaction,
  TransactResult,
  WriteOptions,
} from './api.js';
import { LeaderLock } from './leader-lock.js';
import type { ResolvedOptions } from './open-options.js';
import type { ShardHostStatus } from './shard-host-config.js';
import { CONTROL_TIMEOUT_MS, type ShardSlot } from './shard-slot.js';
import { TickBatcher } from './tick-batcher.js';
import { collectTransaction, settleTransaction } from './transaction.js';
import { VerificationTally } from './verification-tally.js';
import { PING_TIMEOUT_MS, WorkerSupervisor } from './worker-supervisor.js';

const MAX_SCAN = 10_000;
/** How often `start` looks whether every shard is readable yet. */
const READY_POLL_MS = 20;

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An open database in this tab. */
export class Database implements TidalDb {
  readonly tabId = randomId();
  readonly name: string;
  readonly shards: number;
  readonly storage: 'opfs' | 'memory';
  readonly debug: TidalDebug | undefined;
  readonly sync: TidalSync | undefined;
  private readonly options: ResolvedOptions;
  private readonly clock: Clock;
  private readonly slots: ShardSlot[] = [];
  private readonly router: ShardRouter;
  private readonly lock: LeaderLock;
  private readonly supervisor: WorkerSupervisor;
  private readonly subscriptions = new Set<{ prefix: string; callback: (change: Change) => void }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly tally = new VerificationTally();
  /** Per worker incarnation: its shard and the channel messages it refused (each counts from 0). */
  private readonly refused = new Map<string, { shard: ShardId; count: number }>();
  /** The answer to `navigator.storage.persist()`, asked once on OPFS. */
  private readonly persisted: Promise<boolean | undefined>;
  /** Each shard's last status, for `stats()` while its worker does not answer. */
  private readonly lastStatus: (ShardHostStatus | undefined)[] = [];
  private closed = false;
  /** Set when this tab stepped aside for a newer tidal (`VersionSkew`): see `supersede`. */
  private supersededBy: TidalError | undefined;
  private readonly supersededListeners = new Set<(error: TidalError) => void>();
  /** Stopping the workers and letting go of the locks, once begun (by `close` or `supersede`). */
  private stopping: Promise<void> | undefined;

  constructor(options: ResolvedOptions, clock: Clock) {
    this.options = options;
    this.clock = clock;
    this.name = options.name;
    this.shards = options.shards;
    this.storage = options.storage;
    this.persisted = this.storage === 'opfs' ? askPersistence() : Promise.resolve(undefined);
    this.router = new ShardRouter({ shards: options.shards });
    const closed = () => this.closed || this.supersededBy !== undefined;
    this.lock = new LeaderLock({
      db: this.name,
      tabId: this.tabId,
      slots: this.slots,
      clock,
      signal: this.abort.signal,
      closed,
      transfer: Comlink.transfer,
    });
    this.supervisor = new WorkerSupervisor({
      options,
      tabId: this.tabId,
      slots: this.slots,
      clock,
      lock: this.lock,
      dispatch: (changes) => this.dispatch(changes),
      watchedPrefixes: () => this.watchedPrefixes(),
      closed,
      superseded: (skew) => this.supersede(new TidalError('VersionSkew', skew.message, { details: skew.details })),
    });
    this.debug = options.debug ? this.faults() : undefined;
    this.sync = options.sync ? this.deviceSync(options.sync.device) : undefined;
  }

  /** `db.sync`: asks each shard's worker (the one leading it in this tab syncs it). */
  private deviceSync(device: string): TidalSync {
    const collect = async (now: boolean): Promise<TidalSyncStats> => {
      const perShard = await Promise.all(
        this.slots.map(async (slot): Promise<ShardSyncStats> => {
          const stats = now
            ? await withTimeout(this.clock, slot.host.syncNow(), 120_000, `shard ${slot.shard} sync`)
            : await withTimeout(this.clock, slot.host.syncStats(), PING_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
          return stats ? { led: true, ...stats } : { led: false, shard: slot.shard };
        }),
      );
      const led = perShard.filter((s): s is Extract<ShardSyncStats, { led: true }> => s.led);
      const sum = (field: 'objectsUp' | 'bytesUp' | 'objectsDown' | 'bytesDown' | 'pendingLsns') => led.reduce((n, s) => n + s[field], 0);
      const lastSyncAt = led.some((s) => s.lastSyncAt === undefined) ? undefined : Math.min(...led.map((s) => s.lastSyncAt!));
      const failed = led.find((s) => s.lastError !== undefined);
      return {
        device,
        shards: perShard,
        objectsUp: sum('objectsUp'),
        bytesUp: sum('bytesUp'),
        objectsDown: sum('objectsDown'),
        bytesDown: sum('bytesDown'),
        pendingLsns: sum('pendingLsns'),
        lastSyncAt: led.length === 0 ? undefined : lastSyncAt,
        lastError: failed?.lastError && { shard: failed.shard, code: failed.lastError.code, message: failed.lastError.message },
      };
    };
    return { now: () => collect(true), stats: () => collect(false) };
  }

  /** Starts the workers, queues for the locks; resolves once every shard is readable here (or 15 s passed). */
  async start(): Promise<void> {
    for (let shard = 0; shard < this.shards; shard++) {
      const slot = {
        shard,
        lockHeld: false,
        releaseLock: undefined,
        restarts: 0,
        term: 0,
        restarting: undefined,
        stealing: false,
      } as unknown as ShardSlot;
      Object.assign(slot, {
        writer: new SessionWriter({
          shard,
          link: new TickBatcher(() => slot, this.options.requestTimeoutMs, this.clock),
          clock: this.clock,
          merge: true, // a tick's writes to a shard: one write, one event
          retryDelayMs: 20,
          maxRetryDelayMs: 1000,
        }),
      });
      this.slots.push(slot);
    }
    await Promise.all(this.slots.map((slot) => this.supervisor.spawn(slot)));
    for (const slot of this.slots) this.lock.request(slot, false);
    this.supervisor.start();
    // Ready once every shard is readable here: led by this tab (its log recovered and replayed),
    // or followed from the tab that leads it.
    const deadline = this.clock.now() + CONTROL_TIMEOUT_MS;
    // A tab that steps aside meanwhile (a newer tidal leads) stops its workers: it waits no longer.
    const steppedAside = new Promise<undefined>((resolve) => this.supersededListeners.add(() => resolve(undefined)));
    for (const slot of this.slots) {
      for (;;) {
        const asked = withTimeout(this.clock, slot.host.status(), CONTROL_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
        const status = await Promise.race([asked, steppedAside]);
        if (status?.ready || this.supersededBy || this.clock.now() > deadline) break;
        await sleep(this.clock, READY_POLL_MS);
      }
    }
  }

  // ---- Subscriptions ------------------------------------------------------

  /** The prefixes the workers must report changes for (none: they build no change reports at all). */
  private watchedPrefixes(): string[] {
    return [...new Set([...this.subscriptions].map((s) => s.prefix))];
  }

  private updateWatches(): void {
    const prefixes = this.watchedPrefixes();
    for (const slot of this.slots) void slot.host.watch(prefixes).catch(() => undefined); // a restarting worker gets them on spawn
  }

  private dispatch(changes: Change[]): void {
    for (const change of changes) {
      for (const subscription of this.subscriptions) {
        if (!change.key.startsWith(subscription.prefix)) continue;
        try {
          subscription.callback(change);
        } catch (error) {
          console.error('tidal: a subscription callback threw', error);
        }
      }
    }
  }

  subscribe(prefix: string, callback: (change: Change) => void): () => void {
    if (typeof prefix !== 'string' || typeof callback !== 'function')
      throw new TidalError('InvalidArgument', 'subscribe(prefix: string, callback: function)');
    const subscription = { prefix, callback };
    this.subscriptions.add(subscription);
    this.updateWatches();
    return () => {
      if (this.subscriptions.delete(subscription)) this.updateWatches();
    };
  }

  // ---- Writes -------------------------------------------------------------

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const done = () => this.inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  /** Why this tab no longer takes calls (closed, or stepped aside for a newer tidal), if it does not. */
  private refusal(): TidalError | undefined {
    if (this.closed) return new TidalError('Closed', `database ${this.name} is closed`);
    return this.supersededBy;
  }

  private writeOp(op: ClientOperation, options: WriteOptions | undefined): Promise<WriteToken> {
    if (this.closed) return Promise.reject(new TidalError('Closed', `database ${this.name} is closed`));
    if (typeof op.key !== 'string') return Promise.reject(new TidalError('InvalidArgument', 'key must be a string'));
    const slot = this.slots[this.router.route(op.key)]!;
    const idempotencyKey = options?.idempotencyKey;
    let bytes: number;
    try {
      bytes = validateBuiltOperation(op, 'ops[0]');
      if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.track(slot.writer.writeChecked([op], idempotencyKey !== undefined ? { idempotencyKey, bytes } : { bytes }));
  }

  increment(key: string, kind: string, by = 1, options?: WriteOptions): Promise<WriteToken> {
    return this.writeOp({ op: 'increment', key, kind, by }, options);
  }

  decrement(key: string, kind: string, by = 1, options?: WriteOptions): Promise<WriteToken> {
    return this.writeOp({ op: 'decrement', key, kind, by }, options);
  }

  set(key: string, field: string, value: Value, options?: WriteOptions): Promise<WriteToken> {
    return this.writeOp({ op: 'set', key, field, value }, options);
  }

  add(key: string, setName: string, member: Value, options?: WriteOptions): Promise<WriteToken> {
    return this.writeOp({ op: 'add', key, set: setName, member }, options);
  }

  transact(build: (tx: TidalTransaction) => void, options?: WriteOptions): Promise<TransactResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (typeof build !== 'function') return Promise.reject(new TidalError('InvalidArgument', 'transact(build: (tx) => void)'));
    let collected: ReturnType<typeof collectTransaction>;
    try {
      collected = collectTransaction(build, (key) => this.router.route(key), this.slots.length);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = options?.idempotencyKey;
    const writes: { shard: ShardId; written: Promise<WriteToken> }[] = [];
    collected.parts.forEach((chunks, shard) => {
      const writer = this.slots[shard]!.writer;
      chunks.forEach(({ ops, bytes }, i) => {
        // A key guards one write per shard: a second write of the part gets a derived key of its own.
        const writeOptions = key === undefined ? { bytes } : { idempotencyKey: i === 0 ? key : `${key}#${i}`, bytes };
        writes.push({ shard, written: writer.writeChecked(ops, writeOptions) });
      });
    });
    return this.track(settleTransaction(writes, collected.operations));
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  // ---- Reads --------------------------------------------------------------

  /**
   * What a read must wait for on `slot`'s replica: the caller's token, or
   * else the highest LSN this tab's session has seen on that shard (its
   * own writes, and what its earlier reads saw), so that reads in a tab
   * see its writes and never go back in time, across leader changes too.
   */
  private readAfter(slot: ShardSlot, after: WriteToken | undefined): WriteToken | undefined {
    const given = after && after.shard === slot.shard ? after.lsn : 0;
    const lsn = Math.max(slot.writer.lastSeenLsn, given);
    return lsn > 0 ? { shard: slot.shard, lsn } : undefined;
  }

  async get(key: string, options: ReadOptions = {}): Promise<Entity | undefined> {
    if (this.supersededBy) throw this.supersededBy;
    if (typeof key !== 'string') throw new TidalError('InvalidArgument', 'key must be a string');
    if (options.after && options.after.shard !== this.router.route(key)) {
      throw new TidalError(
        'WrongShard',
        `the token is of shard ${options.after.shard}; key ${JSON.stringify(key)} is on shard ${this.router.route(key)}`,
      );
    }
    const slot = this.slots[this.router.route(key)]!;
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const { entity, lsn } = await withTimeout(
      this.clock,
      slot.host.get(key, this.readAfter(slot, options.after), timeoutMs),
      timeoutMs + 1000,
      `shard ${slot.shard}`,
    );
    slot.writer.observe(lsn);
    return entity;
  }

  async scan(prefix: string, options: ReadOptions & { limit?: number } = {}): Promise<{ key: string; entity: Entity }[]> {
    if (this.supersededBy) throw this.supersededBy;
    if (typeof prefix !== 'string') throw new TidalError('InvalidArgument', 'prefix must be a string');
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN)
      throw new TidalError('InvalidArgument', `limit must be an integer in 1..${MAX_SCAN}`);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const parts = await Promise.all(
      this.slots.map(async (slot) => {
        const part = await withTimeout(
          this.clock,
          slot.host.scan(prefix, limit, this.readAfter(slot, options.after), timeoutMs),
          timeoutMs + 1000,
          `shard ${slot.shard}`,
        );
        slot.writer.observe(part.lsn);
        return part.rows;
      }),
    );
    return parts
      .flat()
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
  }

  // ---- Status, close, faults ----------------------------------------------

  async stats(): Promise<TidalStats> {
    const statuses = await Promise.all(
      this.slots.map((slot) => withTimeout(this.clock, slot.host.status(), PING_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined)),
    );
    // Verification counters live in the workers and start again at 0 when a worker restarts or a
    // replica is replaced; the tally here keeps them cumulative, and credits each to its own shard.
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
        bytesVerified: this.tally.bytesVerified(slot.shard),
        payloadsRejected: this.tally.payloadsRejected(slot.shard),
        messagesRefused: [...this.refused.values()].reduce((n, r) => (r.shard === slot.shard ? n + r.count : n), 0),
        restarts: slot.restarts,
      };
    });
    return { tab: this.tabId, storage: this.storage, persisted: await this.persisted, estimate: await storageEstimate(), shards };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop(undefined);
  }

  get superseded(): TidalError | undefined {
    return this.supersededBy;
  }

  onSuperseded(callback: (error: TidalError) => void): () => void {
    if (typeof callback !== 'function') throw new TidalError('InvalidArgument', 'onSuperseded(callback: function)');
    const superseded = this.supersededBy;
    if (superseded) {
      queueMicrotask(() => callback(superseded));
      return () => undefined;
    }
    this.supersededListeners.add(callback);
    return () => void this.supersededListeners.delete(callback);
  }

  /**
   * Steps aside for a newer tidal (a worker met a newer protocol or format, `VersionSkew`): every
   * worker gives up its role (a leader closes its log, in which every acknowledged write already is)
   * and stops, the locks are let go so that the newer tab leads, writes not yet acknowledged reject
   * with `error` (they may or may not have landed, as with `close`), and so does every later call.
   * Then the page is told (`onSuperseded`).
   */
  private supersede(error: TidalError): void {
    if (this.closed || this.supersededBy) return;
    this.supersededBy = error;
    console.warn(`tidal: ${error.message}`);
    void this.stop(error).then(() => {
      for (const callback of this.supersededListeners) {
        try {
          callback(error);
        } catch (thrown) {
          console.error('tidal: an onSuperseded callback threw', thrown);
        }
      }
      this.supersededListeners.clear();
    });
  }

  /** Stops the workers and lets go of the locks, once; unacknowledged writes reject with `reason` (or `Closed`). */
  private stop(reason: TidalError | undefined): Promise<void> {
    this.stopping ??= (async () => {
      this.supervisor.stop();
      this.abort.abort();
      for (const slot of this.slots) slot.writer.close(reason);
      await Promise.all(
        this.slots.map(async (slot) => {
          await withTimeout(this.clock, slot.host.close(), 5000, `shard ${slot.shard}`).catch(() => undefined);
          slot.worker.terminate();
          slot.releaseLock?.();
        }),
      );
    })();
    return this.stopping;
  }

  private slotOf(shard: ShardId): ShardSlot {
    const slot = this.slots[shard];
    if (!slot) throw new TidalError('InvalidArgument', `no shard ${shard}`);
    return slot;
  }

  /** `db.debug`, when opened with `{ debug: true }`. */
  private faults(): TidalDebug {
    return {
      killWorker: (shard) => {
        this.slotOf(shard).worker.terminate(); // the supervisor finds it silent and restarts it
      },
      hangWorker: (shard, ms) => {
        const slot = this.slotOf(shard);
        if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) throw new TidalError('InvalidArgument', 'hangWorker takes 0..60000 ms');
        void slot.host.hang(ms).catch(() => undefined); // not awaited: the worker answers nothing until it is over
      },
      corruptNextPayload: async (shard) => {
        const slot = this.slotOf(shard);
        await withTimeout(this.clock, slot.host.corruptNextPayload(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
      },
      snapshotNow: async (shard) => {
        const slot = this.slotOf(shard);
        return withTimeout(this.clock, slot.host.snapshotNow(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
      },
      dropNextPayload: async (shard) => {
        const slot = this.slotOf(shard);
        await withTimeout(this.clock, slot.host.dropNextPayload(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
      },
    };
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
