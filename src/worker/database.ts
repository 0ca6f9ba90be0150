/**
 * `Database`: the `TidalDb` that `openTidal` returns, the public API over
 * the shard workers, and their lifecycle in this tab (start, close, and
 * stepping aside for a newer tidal). Each idea behind the API has its own
 * module:
 *
 * - `write-submission.ts`: writes checked, routed and handed to each
 *   shard's `SessionWriter` (exactly once, resent across restarts and
 *   failover) and its `TickBatcher` (one message per shard per tick);
 * - `read-routing.ts`: reads sent to the shard's worker, ordered after
 *   what this tab's session has seen;
 * - `subscriptions.ts`: listeners, dispatched from the workers' change feeds;
 * - `database-stats.ts`, `database-sync.ts`, `database-debug.ts`: `stats()`,
 *   `db.sync` and `db.debug`.
 */
import * as Comlink from 'comlink';
import { sleep, withTimeout, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { ShardRouter } from '../shard/router.js';
import { SessionWriter } from '../session/session-writer.js';
import type { WriteToken } from '../session/write.js';
import type { Value } from '../wal/payload.js';
import type {
  Change,
  Entity,
  ReadOptions,
  TidalDb,
  TidalDebug,
  TidalStats,
  TidalSync,
  TidalTransaction,
  TransactResult,
  WriteOptions,
} from './api.js';
import { databaseDebug } from './database-debug.js';
import { DatabaseStats } from './database-stats.js';
import { databaseSync } from './database-sync.js';
import { LeaderLock } from './leader-lock.js';
import type { ResolvedOptions } from './open-options.js';
import { readEntity, scanShards, type ReadRoute } from './read-routing.js';
import type { ShardId } from '../shard/shard-id.js';
import { CONTROL_TIMEOUT_MS, type ShardSlot } from './shard-slot.js';
import { Subscriptions } from './subscriptions.js';
import { TickBatcher } from './tick-batcher.js';
import { WorkerSupervisor } from './worker-supervisor.js';
import { WriteSubmission } from './write-submission.js';

/**
 * How often `start` asks a shard's worker whether it is readable yet, when
 * nothing told it meanwhile: a shard this tab leads says so as soon as it
 * led (`LeaderLock`'s `onLed`); one that follows another tab's leader is asked.
 */
const READY_POLL_MS = 20;

/**
 * How long after the open this tab's in-tab followers are wired
 * (`LeaderLock`'s `opened`): shipping each shard's snapshot and log to the
 * next shard's worker and verifying them there keeps every worker busy for
 * a while, and the page's first requests once open (a `get`) waited behind
 * it, in those workers' queues and for the cores.
 */
const IN_TAB_FOLLOWERS_AFTER_MS = 150;

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
  private readonly subscriptions: Subscriptions;
  private readonly writes: WriteSubmission;
  private readonly reads: ReadRoute;
  private readonly statistics: DatabaseStats;
  private readonly abort = new AbortController();
  private closed = false;
  /** Set when this tab stepped aside for a newer tidal (`VersionSkew`): see `supersede`. */
  private supersededBy: TidalError | undefined;
  private readonly supersededListeners = new Set<(error: TidalError) => void>();
  /** Stopping the workers and letting go of the locks, once begun (by `close` or `supersede`). */
  private stopping: Promise<void> | undefined;
  /** Per shard: who waits (in `start`) to hear that this tab's worker led it. */
  private readonly ledWaiters = new Map<ShardId, () => void>();
  /** Resolves once `start` is done (every shard readable, or it gave up): in-tab followers are wired after it. */
  private readonly opened: Promise<void>;
  private markOpened!: () => void;

  constructor(options: ResolvedOptions, clock: Clock) {
    this.options = options;
    this.clock = clock;
    this.name = options.name;
    this.shards = options.shards;
    this.storage = options.storage;
    this.statistics = new DatabaseStats({ tabId: this.tabId, storage: this.storage, slots: this.slots, clock });
    this.router = new ShardRouter({ shards: options.shards });
    this.subscriptions = new Subscriptions(this.slots);
    this.writes = new WriteSubmission({ slots: this.slots, router: this.router, refusal: () => this.refusal() });
    this.reads = { slots: this.slots, router: this.router, clock, requestTimeoutMs: options.requestTimeoutMs };
    const closed = () => this.closed || this.supersededBy !== undefined;
    this.opened = new Promise<void>((resolve) => (this.markOpened = resolve));
    this.lock = new LeaderLock({
      db: this.name,
      tabId: this.tabId,
      slots: this.slots,
      clock,
      signal: this.abort.signal,
      closed,
      transfer: Comlink.transfer,
      onLed: (slot) => this.ledWaiters.get(slot.shard)?.(),
      opened: this.opened,
    });
    this.supervisor = new WorkerSupervisor({
      options,
      tabId: this.tabId,
      slots: this.slots,
      clock,
      lock: this.lock,
      dispatch: (changes) => this.subscriptions.dispatch(changes),
      watchedPrefixes: () => this.subscriptions.watchedPrefixes(),
      closed,
      superseded: (skew) => this.supersede(new TidalError('VersionSkew', skew.message, { details: skew.details })),
    });
    this.debug = options.debug ? databaseDebug(this.slots, clock) : undefined;
    this.sync = options.sync ? databaseSync(this.slots, clock, options.sync.device) : undefined;
  }

  /** Starts the workers, queues for the locks; resolves once every shard is readable here (or 15 s passed). */
  async start(): Promise<void> {
    try {
      await this.startShards();
    } finally {
      void sleep(this.clock, IN_TAB_FOLLOWERS_AFTER_MS).then(() => this.markOpened());
    }
  }

  private async startShards(): Promise<void> {
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
    // Each shard queues for its lock as its worker starts, not once it is up: a grant counts its term
    // (OPFS, in this thread) while the worker loads, and leads once that worker is up (a worker's start
    // took 0.4-1.6 s apart at load 36: a shard waits for its own worker only).
    await Promise.all(
      this.slots.map((slot) => {
        const up = this.supervisor.spawn(slot);
        this.lock.request(slot, false, up);
        return up;
      }),
    );
    this.supervisor.start();
    // Ready once every shard is readable here: led by this tab (its log recovered and replayed),
    // or followed from the tab that leads it. The shards are waited for together.
    const deadline = this.clock.now() + CONTROL_TIMEOUT_MS;
    // A tab that steps aside meanwhile (a newer tidal leads) stops its workers: it waits no longer.
    const steppedAside = new Promise<undefined>((resolve) => this.supersededListeners.add(() => resolve(undefined)));
    await Promise.all(this.slots.map((slot) => this.untilReadable(slot, deadline, steppedAside)));
  }

  /** Resolves once `slot`'s shard is readable here (its worker led it, or says it is ready), the tab stepped aside, or `deadline` passed. */
  private async untilReadable(slot: ShardSlot, deadline: number, steppedAside: Promise<undefined>): Promise<void> {
    let led = false;
    const heard = new Promise<void>((resolve) =>
      this.ledWaiters.set(slot.shard, () => {
        led = true;
        resolve();
      }),
    );
    try {
      for (;;) {
        const asked = withTimeout(this.clock, slot.host.status(), CONTROL_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
        const status = await Promise.race([asked, steppedAside, heard.then(() => undefined)]);
        if (led || status?.ready || this.supersededBy || this.clock.now() > deadline) return;
        await Promise.race([sleep(this.clock, READY_POLL_MS), heard, steppedAside]);
        if (led) return;
      }
    } finally {
      this.ledWaiters.delete(slot.shard);
    }
  }

  subscribe(prefix: string, callback: (change: Change) => void): () => void {
    return this.subscriptions.subscribe(prefix, callback);
  }

  // ---- Writes (write-submission.ts) ---------------------------------------

  increment(key: string, kind: string, by = 1, options?: WriteOptions): Promise<WriteToken> {
    return this.writes.write({ op: 'increment', key, kind, by }, options);
  }

  decrement(key: string, kind: string, by = 1, options?: WriteOptions): Promise<WriteToken> {
    return this.writes.write({ op: 'decrement', key, kind, by }, options);
  }

  set(key: string, field: string, value: Value, options?: WriteOptions): Promise<WriteToken> {
    return this.writes.write({ op: 'set', key, field, value }, options);
  }

  add(key: string, setName: string, member: Value, options?: WriteOptions): Promise<WriteToken> {
    return this.writes.write({ op: 'add', key, set: setName, member }, options);
  }

  transact(build: (tx: TidalTransaction) => void, options?: WriteOptions): Promise<TransactResult> {
    return this.writes.transact(build, options);
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  // ---- Reads (read-routing.ts) --------------------------------------------

  async get(key: string, options: ReadOptions = {}): Promise<Entity | undefined> {
    if (this.supersededBy) throw this.supersededBy;
    return readEntity(this.reads, key, options);
  }

  async scan(prefix: string, options: ReadOptions & { limit?: number } = {}): Promise<{ key: string; entity: Entity }[]> {
    if (this.supersededBy) throw this.supersededBy;
    return scanShards(this.reads, prefix, options);
  }

  // ---- Status and lifecycle -----------------------------------------------

  stats(): Promise<TidalStats> {
    return this.statistics.collect();
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

  /** Why this tab no longer takes calls (closed, or stepped aside for a newer tidal), if it does not. */
  private refusal(): TidalError | undefined {
    if (this.closed) return new TidalError('Closed', `database ${this.name} is closed`);
    return this.supersededBy;
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
}
