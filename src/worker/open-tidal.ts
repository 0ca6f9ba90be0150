/**
 * `openTidal`: opens a database in a page. Behind the returned `TidalDb`:
 * one module Worker per shard (a `ShardHost`, over comlink), leadership of
 * each shard across the origin's tabs with Web Locks, one `SessionWriter`
 * per shard for exactly-once writes, and a supervisor that restarts a
 * worker that dies or stops answering and takes the lead from a leader tab
 * that went silent.
 *
 *     const db = await openTidal({ name: 'forage' });
 *     await db.increment('item:1', 'click');
 *
 * Writes issued in the same tick travel together: one message per shard
 * per tick, one WAL batch on the leader.
 */
import * as Comlink from 'comlink';
import { TidalError, type TidalErrorCode } from '../common/errors.js';
import { ShardRouter } from '../shard/router.js';
import type { ShardId } from '../shard/shard-id.js';
import { SessionWriter, type SessionLink } from '../session/session-writer.js';
import type { ClientOperation, WriteRequest, WriteToken } from '../session/write.js';
import type { Value } from '../wal/payload.js';
import type { Change, Entity, OpenTidalOptions, ReadOptions, ShardStats, TidalDb, TidalStats, WriteOptions } from './api.js';
import { installTidalErrorHandler } from './comlink-errors.js';
import type { ShardHostConfig, ShardHostStatus } from './shard-host.js';
import type { ShardHostApi } from './shard-host.worker.js';
import type { WriteOutcome } from './tab-rpc.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const PING_EVERY_MS = 500;
const PING_TIMEOUT_MS = 2000;
const CONTROL_TIMEOUT_MS = 15_000;
const MAX_SCAN = 10_000;

/** Rejects with `Timeout` if `promise` has not settled within `ms` (comlink calls have no timeout of their own). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TidalError('Timeout', `${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Cumulative verification counters per shard. Each follower (known by its
 * id) counts from 0 in its worker; a follower replaced (worker restart,
 * change of leader) keeps what it counted here, so a shard's totals never
 * go down.
 */
class VerificationTally {
  private readonly followers = new Map<string, { shard: ShardId; bytes: number; rejected: number }>();

  observe(follower: string, shard: ShardId, bytes: number, rejected: number): void {
    this.followers.set(follower, { shard, bytes, rejected });
  }

  bytesVerified(shard: ShardId): number {
    let total = 0;
    for (const f of this.followers.values()) if (f.shard === shard) total += f.bytes;
    return total;
  }

  payloadsRejected(shard: ShardId): number {
    let total = 0;
    for (const f of this.followers.values()) if (f.shard === shard) total += f.rejected;
    return total;
  }
}

/** One shard as this tab runs it. */
interface ShardSlot {
  readonly shard: ShardId;
  worker: Worker;
  host: Comlink.Remote<ShardHostApi>;
  readonly writer: SessionWriter;
  /** This tab holds the shard's Web Lock. */
  lockHeld: boolean;
  /** Resolving it releases the lock. */
  releaseLock: (() => void) | undefined;
  restarts: number;
  /** The term this tab was granted the lock in (see `nextTerm`). */
  term: number;
  restarting: Promise<void> | undefined;
  stealing: boolean;
}

/** Sends a tick's writes for one shard in one message. */
class TickBatcher implements SessionLink {
  private queue: { request: WriteRequest; resolve(token: WriteToken): void; reject(error: unknown): void }[] = [];
  private readonly slot: () => ShardSlot;
  private readonly timeoutMs: number;

  constructor(slot: () => ShardSlot, timeoutMs: number) {
    this.slot = slot;
    this.timeoutMs = timeoutMs;
  }

  write(request: WriteRequest): Promise<WriteToken> {
    return new Promise<WriteToken>((resolve, reject) => {
      if (this.queue.push({ request, resolve, reject }) === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const slot = this.slot();
    within(slot.host.write(batch.map((b) => b.request)), this.timeoutMs, `shard ${slot.shard}`).then(
      (outcomes: WriteOutcome[]) => {
        batch.forEach((b, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) b.resolve(outcome.token);
          else b.reject(new TidalError((outcome?.code ?? 'StorageError') as TidalErrorCode, outcome?.message ?? 'no outcome'));
        });
      },
      (error: unknown) => batch.forEach((b) => b.reject(error)),
    );
  }
}

/** Opens (creating as needed) the database `options.name` in this page. */
export async function openTidal(options: OpenTidalOptions): Promise<TidalDb> {
  installTidalErrorHandler();
  if (typeof options?.name !== 'string' || !NAME.test(options.name)) {
    throw new TidalError('InvalidArgument', `name must be 1..64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(options?.name)}`);
  }
  const shards = options.shards ?? 4;
  if (!Number.isInteger(shards) || shards < 1 || shards > 64)
    throw new TidalError('InvalidArgument', `shards must be an integer in 1..64, got ${shards}`);
  if (options.durability !== undefined && options.durability !== 'flush' && options.durability !== 'relaxed') {
    throw new TidalError('InvalidArgument', `durability must be 'flush' or 'relaxed', got ${JSON.stringify(options.durability)}`);
  }
  if (options.storage !== undefined && options.storage !== 'opfs' && options.storage !== 'memory') {
    throw new TidalError('InvalidArgument', `storage must be 'opfs' or 'memory', got ${JSON.stringify(options.storage)}`);
  }
  if (typeof navigator === 'undefined' || !navigator.locks) {
    throw new TidalError('InvalidArgument', 'openTidal runs in a browser page with Web Locks (navigator.locks)');
  }
  let storage = options.storage ?? 'opfs';
  if (storage === 'opfs' && typeof navigator.storage?.getDirectory !== 'function') {
    console.warn('tidal: OPFS is not available here; using memory storage (nothing survives a reload)');
    storage = 'memory';
  }
  const db = new Database(options.name, shards, storage, options);
  await db.start();
  return db;
}

class Database implements TidalDb {
  readonly name: string;
  readonly shards: number;
  readonly storage: 'opfs' | 'memory';
  readonly tabId = randomId();
  private readonly slots: ShardSlot[] = [];
  private readonly router: ShardRouter;
  private readonly subscriptions = new Set<{ prefix: string; callback: (change: Change) => void }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly requestTimeoutMs: number;
  private readonly leaderTimeoutMs: number;
  private supervisor: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private readonly options: OpenTidalOptions;

  constructor(name: string, shards: number, storage: 'opfs' | 'memory', options: OpenTidalOptions) {
    this.name = name;
    this.shards = shards;
    this.storage = storage;
    this.options = options;
    this.router = new ShardRouter({ shards });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.leaderTimeoutMs = options.leaderTimeoutMs ?? 3000;
  }

  private config(shard: ShardId): ShardHostConfig {
    return {
      db: this.name,
      shard,
      shards: this.shards,
      tabId: this.tabId,
      storage: this.storage,
      durability: this.options.durability ?? 'flush',
      requestTimeoutMs: this.requestTimeoutMs,
    };
  }

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
          link: new TickBatcher(() => slot, this.requestTimeoutMs),
          retryDelayMs: 20,
          maxRetryDelayMs: 1000,
        }),
      });
      this.slots.push(slot);
    }
    await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    for (const slot of this.slots) this.requestLead(slot, false);
    this.supervisor = setInterval(() => this.supervise(), PING_EVERY_MS);
    // Ready once every shard is readable here: led by this tab (its log recovered and replayed),
    // or followed from the tab that leads it.
    const deadline = Date.now() + CONTROL_TIMEOUT_MS;
    for (const slot of this.slots) {
      for (;;) {
        const status = await within(slot.host.status(), CONTROL_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
        if (status?.ready || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Starts the slot's worker and gives it its role. */
  private async spawn(slot: ShardSlot): Promise<void> {
    const worker = new Worker(new URL('./shard-host.worker.js', import.meta.url), {
      type: 'module',
      name: `tidal:${this.name}:shard:${slot.shard}`,
    });
    worker.addEventListener('error', () => void this.restart(slot, worker));
    slot.worker = worker;
    slot.host = Comlink.wrap<ShardHostApi>(worker);
    await within(slot.host.init(this.config(slot.shard)), CONTROL_TIMEOUT_MS, `shard ${slot.shard} worker`);
    await slot.host.onChanges(Comlink.proxy((changes: Change[]) => this.dispatch(changes)));
    await slot.host.watch(this.watchedPrefixes());
    if (slot.lockHeld) await this.lead(slot);
    else await within(slot.host.becomeFollower(), CONTROL_TIMEOUT_MS, `shard ${slot.shard} worker`);
  }

  /** Queues for the shard's Web Lock (or takes it from a silent holder); leads while it is held. */
  private requestLead(slot: ShardSlot, steal: boolean): void {
    const lockName = `tidal:${this.name}:shard:${slot.shard}`;
    const options: LockOptions = steal ? { steal: true } : { signal: this.abort.signal };
    navigator.locks
      .request(lockName, options, async () => {
        if (this.closed) return;
        slot.term = this.nextTerm(lockName);
        slot.lockHeld = true;
        slot.stealing = false;
        await this.lead(slot).catch((error) => console.error(`tidal: shard ${slot.shard} could not take the lead`, error));
        await new Promise<void>((resolve) => (slot.releaseLock = resolve));
      })
      .catch(async (error: unknown) => {
        // Stolen by another tab (AbortError), or our own close.
        const wasLeader = slot.lockHeld;
        slot.lockHeld = false;
        slot.releaseLock = undefined;
        if (this.closed) return;
        if (wasLeader) {
          await within(slot.host.becomeFollower(), CONTROL_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
          this.requestLead(slot, false);
        } else if ((error as { name?: string }).name !== 'AbortError') {
          console.error(`tidal: lock request for shard ${slot.shard} failed`, error);
        }
      });
  }

  /**
   * The term of a grant of `lockName`: one more than any before it, in any
   * tab. Terms are kept in localStorage and bumped while the lock is held,
   * so grants, which the lock serialises, get increasing terms; leaders
   * compare terms, so a tab whose lock was taken from it (while it hung)
   * can never win over the tab that took it. Without localStorage, the
   * clock stands in.
   */
  private nextTerm(lockName: string): number {
    const key = `${lockName}:term`;
    try {
      const next = Math.max(Number(localStorage.getItem(key)) || 0, 0) + 1;
      localStorage.setItem(key, String(next));
      return next;
    } catch {
      return Date.now();
    }
  }

  /**
   * Makes this tab's worker the shard's leader and wires its in-tab
   * follower. While the lock is held it keeps trying: a leader whose lock
   * was taken from it may hold the log's OPFS handles a while longer, until
   * it notices and steps down.
   */
  private async lead(slot: ShardSlot): Promise<void> {
    for (let attempt = 1; slot.lockHeld && !this.closed; attempt++) {
      try {
        await within(slot.host.becomeLeader(slot.term), CONTROL_TIMEOUT_MS, `shard ${slot.shard} worker`);
        await this.wireInTabFollower(slot);
        slot.writer.resend();
        return;
      } catch (error) {
        if (attempt % 10 === 1) console.warn(`tidal: shard ${slot.shard} cannot take the lead yet (attempt ${attempt}); retrying`, error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * attempt)));
      }
    }
  }

  /** The shard's follower in another worker of this tab: the next shard's worker. */
  private async wireInTabFollower(slot: ShardSlot): Promise<void> {
    if (this.shards < 2 || !slot.lockHeld) return;
    const neighbour = this.slots[(slot.shard + 1) % this.shards];
    if (!neighbour?.host) return;
    const channel = new MessageChannel();
    const replica = `${this.tabId}-w${neighbour.shard}`;
    await within(
      neighbour.host.followInTab(slot.shard, Comlink.transfer(channel.port2, [channel.port2]), replica),
      CONTROL_TIMEOUT_MS,
      `shard ${neighbour.shard} worker`,
    );
    await within(
      slot.host.attachInTabFollower(Comlink.transfer(channel.port1, [channel.port1]), replica),
      CONTROL_TIMEOUT_MS,
      `shard ${slot.shard} worker`,
    );
  }

  /** Replaces a dead or hung worker: a new one recovers the shard (from OPFS when it leads) and writers resend. */
  private restart(slot: ShardSlot, dead: Worker): Promise<void> {
    if (this.closed || slot.worker !== dead) return Promise.resolve();
    slot.restarting ??= (async () => {
      dead.terminate();
      slot.restarts++;
      try {
        await this.spawn(slot);
        // The previous shard's in-tab follower lived in the dead worker: wire it again.
        const previous = this.slots[(slot.shard - 1 + this.shards) % this.shards];
        if (previous && previous !== slot && previous.lockHeld) await this.wireInTabFollower(previous).catch(() => undefined);
        slot.writer.resend();
      } catch (error) {
        console.error(`tidal: restarting shard ${slot.shard} failed; will retry`, error);
      } finally {
        slot.restarting = undefined;
      }
    })();
    return slot.restarting;
  }

  private supervise(): void {
    for (const slot of this.slots) {
      if (slot.restarting || this.closed) continue;
      const worker = slot.worker;
      within(slot.host.status(), PING_TIMEOUT_MS, `shard ${slot.shard} worker`).then(
        (status: ShardHostStatus) => {
          // A leader tab that stopped answering loses the lead after leaderTimeoutMs.
          if (!slot.lockHeld && !slot.stealing && status.role !== 'leader' && status.leaderSilentMs > this.leaderTimeoutMs) {
            slot.stealing = true;
            this.requestLead(slot, true);
          }
        },
        () => void this.restart(slot, worker),
      );
    }
  }

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

  // ---- The public API -----------------------------------------------------

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const done = () => this.inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  private writeOp(op: ClientOperation, options: WriteOptions | undefined): Promise<WriteToken> {
    if (this.closed) return Promise.reject(new TidalError('Closed', `database ${this.name} is closed`));
    if (typeof op.key !== 'string') return Promise.reject(new TidalError('InvalidArgument', 'key must be a string'));
    const slot = this.slots[this.router.route(op.key)]!;
    return this.track(slot.writer.write([op], options?.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}));
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
    if (typeof key !== 'string') throw new TidalError('InvalidArgument', 'key must be a string');
    if (options.after && options.after.shard !== this.router.route(key)) {
      throw new TidalError(
        'WrongShard',
        `the token is of shard ${options.after.shard}; key ${JSON.stringify(key)} is on shard ${this.router.route(key)}`,
      );
    }
    const slot = this.slots[this.router.route(key)]!;
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const { entity, lsn } = await within(
      slot.host.get(key, this.readAfter(slot, options.after), timeoutMs),
      timeoutMs + 1000,
      `shard ${slot.shard}`,
    );
    slot.writer.observe(lsn);
    return entity;
  }

  async scan(prefix: string, options: ReadOptions & { limit?: number } = {}): Promise<{ key: string; entity: Entity }[]> {
    if (typeof prefix !== 'string') throw new TidalError('InvalidArgument', 'prefix must be a string');
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN)
      throw new TidalError('InvalidArgument', `limit must be an integer in 1..${MAX_SCAN}`);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const parts = await Promise.all(
      this.slots.map(async (slot) => {
        const part = await within(
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

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  async stats(): Promise<TidalStats> {
    const statuses = await Promise.all(
      this.slots.map((slot) => within(slot.host.status(), PING_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined)),
    );
    // Verification counters live in the workers and start again at 0 when a worker restarts or a
    // replica is replaced; the tally here keeps them cumulative, and credits each to its own shard.
    statuses.forEach((status, worker) => {
      if (!status) return;
      if (status.followerId) this.tally.observe(status.followerId, status.shard, status.bytesVerified, status.payloadsRejected);
      const inTab = status.inTabFollower;
      if (inTab) this.tally.observe(inTab.id, inTab.shard, inTab.bytesVerified, inTab.payloadsRejected);
    });
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
        bytesVerified: this.tally.bytesVerified(slot.shard),
        payloadsRejected: this.tally.payloadsRejected(slot.shard),
        restarts: slot.restarts,
      };
    });
    return { tab: this.tabId, storage: this.storage, shards };
  }

  private readonly tally = new VerificationTally();
  private readonly lastStatus: (ShardHostStatus | undefined)[] = [];

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.supervisor);
    this.abort.abort();
    for (const slot of this.slots) slot.writer.close();
    await Promise.all(
      this.slots.map(async (slot) => {
        await within(slot.host.close(), 5000, `shard ${slot.shard}`).catch(() => undefined);
        slot.worker.terminate();
        slot.releaseLock?.();
      }),
    );
  }

  readonly debug = {
    killWorker: (shard: ShardId): void => {
      const slot = this.slots[shard];
      if (!slot) throw new TidalError('InvalidArgument', `no shard ${shard}`);
      slot.worker.terminate(); // the supervisor finds it silent and restarts it
    },
    hangWorker: (shard: ShardId, ms: number): void => {
      const slot = this.slots[shard];
      if (!slot) throw new TidalError('InvalidArgument', `no shard ${shard}`);
      if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) throw new TidalError('InvalidArgument', 'hangWorker takes 0..60000 ms');
      void slot.host.hang(ms).catch(() => undefined); // not awaited: the worker answers nothing until it is over
    },
    corruptNextPayload: async (shard: ShardId): Promise<void> => {
      const slot = this.slots[shard];
      if (!slot) throw new TidalError('InvalidArgument', `no shard ${shard}`);
      await within(slot.host.corruptNextPayload(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
    },
  };
}
