/**
 * The public database API: what `openTidal` returns. Everything here is a
 * plain value or a promise, on the main thread; behind it, one Web Worker
 * per shard, leaders elected across tabs, replication and recovery.
 *
 *     const db = await openTidal({ name: 'forage' });
 *     const token = await db.increment('item:42', 'click');
 *     const item = await db.get('item:42', { after: token }); // read your write, on any replica
 *     const stop = db.subscribe('item:', (change) => render(change.key, change.entity));
 */
import type { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { WriteToken } from '../session/write.js';
import type { SyncOptions } from '../sync/sync-options.js';
import type { SyncRunnerStats } from '../sync/sync-runner.js';
import type { Value } from '../wal/payload.js';

/** A shard's device sync as the tab that leads it reports it (`led: false`: another tab leads it, and syncs it). */
export type ShardSyncStats =
  | ({
      /** This tab leads the shard and runs its sync: the runner's stats follow. */
      readonly led: true;
    } & SyncRunnerStats)
  | {
      /** Another tab leads the shard and syncs it. */
      readonly led: false;
      /** The shard. */
      readonly shard: ShardId;
    };

/** What `db.sync.stats()` and `db.sync.now()` answer. */
export interface TidalSyncStats {
  /** This device's id in the user's sync. */
  readonly device: string;
  /** One entry per shard of the database, in shard order. */
  readonly shards: readonly ShardSyncStats[];
  /** Objects uploaded to the bucket, summed over the shards this tab leads. */
  readonly objectsUp: number;
  /** Bytes uploaded, summed over the shards this tab leads. */
  readonly bytesUp: number;
  /** Objects downloaded from the bucket (other devices' logs), summed over the shards this tab leads. */
  readonly objectsDown: number;
  /** Bytes downloaded, summed over the shards this tab leads. */
  readonly bytesDown: number;
  /** LSNs written here that no upload covers yet, summed over the shards this tab leads. */
  readonly pendingLsns: number;
  /** The oldest last round among the shards this tab leads (`undefined` until each had one). */
  readonly lastSyncAt: number | undefined;
  /** Why a shard's last round failed or refused an object (the first such shard this tab leads), or `undefined`. */
  readonly lastError:
    | {
        /** The shard whose round it was. */
        readonly shard: ShardId;
        /** The `TidalError` code (`Unreachable`, `DecryptionFailed`, ...). */
        readonly code: string;
        /** What went wrong, in words. */
        readonly message: string;
      }
    | undefined;
}

/** Device sync of an open database. */
export interface TidalSync {
  /** Runs a round now on every shard this tab leads; rejects with the first shard's error (`Unreachable`, ...). */
  now(): Promise<TidalSyncStats>;
  /** What sync has done so far, without running a round. */
  stats(): Promise<TidalSyncStats>;
}

/** Options of `openTidal`. */
export interface OpenTidalOptions {
  /** The database's name: its OPFS folder, its lock and channel names. 1..64 of `A-Z a-z 0-9 _ -`. */
  readonly name: string;
  /** Number of shards (one worker each), 1..64. Default 4. Must be the same in every tab of a database. */
  readonly shards?: number;
  /** Where logs live. Default `'opfs'`; falls back to `'memory'` (with a console warning) where OPFS is missing. */
  readonly storage?: 'opfs' | 'memory';
  /** `'flush'` (default): a write is acknowledged after its batch is flushed; `'relaxed'`: after the append. */
  readonly durability?: 'flush' | 'relaxed';
  /** A leader tab silent this long loses its leadership to another tab. Default 3000 ms. */
  readonly leaderTimeoutMs?: number;
  /** Bound on forwarded writes and waiting reads. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
  /**
   * Fault injection (`db.debug`: kill, hang a worker, corrupt a payload), for demos and tests.
   * Default `false`: `db.debug` is `undefined` and the workers ship on bare links.
   */
  readonly debug?: boolean;
  /**
   * Constructs the worker of shard `shard`: for an app whose bundler cannot follow
   * `new URL('./shard-host.worker.js', import.meta.url)` (the default, which Vite follows). Give a
   * module worker of tidal's `./worker` entry, e.g.
   * `(shard) => new Worker(new URL('tidal/worker', import.meta.url), { type: 'module', name: `shard ${shard}` })`.
   */
  readonly createWorker?: (shard: ShardId) => Worker;
  /**
   * Sync across the user's devices through an S3 store, end-to-end
   * encrypted (docs/SYNC.md). Writes never wait for it; it runs in the
   * background in the tab that leads each shard. Default: no sync.
   */
  readonly sync?: SyncOptions;
}

/** What `TidalDebug.snapshotNow` did. */
export interface SnapshotTaken {
  /** The snapshot's LSN (0: the shard holds no write yet). */
  readonly snapshotLsn: number;
  /** The first LSN the shard's log holds after compaction. */
  readonly firstLsn: number;
}

/** Fault injection, present on a database opened with `{ debug: true }`. */
export interface TidalDebug {
  /** Terminates a shard's worker (as a crash would); the database restarts and recovers it. */
  killWorker(shard: ShardId): void;
  /** Flips a byte in the next payload this tab's leader of `shard` ships (to every follower). */
  corruptNextPayload(shard: ShardId): Promise<void>;
  /** Loses the next payload this tab's leader of `shard` ships (to every follower), as a dropped message would. */
  dropNextPayload(shard: ShardId): Promise<void>;
  /** Makes a shard's worker stop answering for `ms` (a busy loop), as a hung worker would. */
  hangWorker(shard: ShardId, ms: number): void;
  /**
   * Has this tab's leader of `shard` snapshot its state now and compact its
   * log (as its policy would, later); resolves with the snapshot's LSN and the
   * log's first LSN after compaction.
   */
  snapshotNow(shard: ShardId): Promise<SnapshotTaken>;
}

/**
 * The operations of one `transact` call, added by its build function. Each
 * method checks its operation at once (`InvalidArgument`, `Unencodable`:
 * the call throws, and nothing of the transaction is sent).
 */
export interface TidalTransaction {
  /** Adds `by` (a positive integer, default 1) to counter `kind` of `key`. */
  increment(key: string, kind: string, by?: number): void;
  /** Subtracts `by` (default 1) from counter `kind` of `key`. */
  decrement(key: string, kind: string, by?: number): void;
  /** Sets field `field` of `key` (last writer wins, by HLC; later in the transaction wins). */
  set(key: string, field: string, value: Value): void;
  /** Adds `member` to the grow-only set `setName` of `key`. */
  add(key: string, setName: string, member: Value): void;
}

/** What a `transact` resolves with. */
export interface TransactResult {
  /** One token per shard the transaction wrote to, in shard order (pass one as `after` to read on that shard). */
  readonly tokens: readonly WriteToken[];
  /** Operations written. */
  readonly operations: number;
}

/** Options of a write. */
export interface WriteOptions {
  /** An application key: a retry carrying it (even from a reloaded page) is applied once. */
  readonly idempotencyKey?: string;
}

/**
 * Options of `get` and `scan`. Reads in a tab always see that tab's
 * acknowledged writes and never go back in time (the tab's session
 * remembers the highest LSN it has seen per shard, across leader changes);
 * `after` adds a token from elsewhere (another tab's write, say).
 */
export interface ReadOptions {
  /** Also wait until the replica read has applied this token; `Timeout` past `timeoutMs`. */
  readonly after?: WriteToken;
  /** Default: the database's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
}

/** One entity as reads return it. */
export interface Entity {
  /**
   * Counter values, exact: a write that would take a counter past ±(2^53-1) is refused with
   * `Overflow`. Only merging concurrent writes of several devices can take one past it; it then
   * reads as the nearest number while the state keeps it exactly (docs/CRDT.md, "PNCounter").
   */
  readonly counters: Readonly<Record<string, number>>;
  /** Field name → the value of its winning write. */
  readonly fields: Readonly<Record<string, Value>>;
  /** Set name → its members, in canonical order. */
  readonly sets: Readonly<Record<string, readonly Value[]>>;
}

/** What a subscription callback receives. */
export interface Change {
  /** The key that changed. */
  readonly key: string;
  /** The entity after the change. */
  readonly entity: Entity | undefined;
  /** The shard the key lives on. */
  readonly shard: ShardId;
  /** The LSN of the write that changed it. */
  readonly lsn: number;
}

/** How long a leader's open of its shard took, step by step, in milliseconds. */
export interface ShardOpenTimes {
  /** Opening the log: scanning the segments kept and verifying every byte (BLAKE3), cutting a torn tail. */
  readonly tailMs: number;
  /** Loading the newest snapshot, verifying every byte and decoding it into the state (0 without one). */
  readonly snapshotMs: number;
  /** Replaying the log after the snapshot into the state. */
  readonly rebuildMs: number;
  /** Events replayed from the log after the snapshot. */
  readonly replayedEvents: number;
}

/** A shard as this tab sees it. */
export interface ShardStats {
  /** The shard these figures are about. */
  readonly shard: ShardId;
  /** This tab's role for the shard. */
  readonly role: 'leader' | 'follower' | 'starting';
  /** The tab that leads the shard (this tab's id when `role` is `'leader'`). */
  readonly leaderTab: string | undefined;
  /** The leader's last LSN, as last heard. */
  readonly lsn: number;
  /** The last LSN this tab's replica applied. */
  readonly appliedLsn: number;
  /** How far this tab's replica is behind the leader, in LSNs and in milliseconds. */
  readonly lag: {
    /** LSNs the leader has committed that this replica has not applied yet. */
    readonly lsns: number;
    /** From the leader's commit of the last applied batch to its apply here, in milliseconds. */
    readonly ms: number;
  };
  /** Segments of the log (leader only; 0 on a follower). */
  readonly segments: number;
  /** Bytes of log the shard's storage keeps, every segment included (leader only; 0 on a follower). */
  readonly logBytes: number;
  /** LSN of the shard's newest snapshot: opening replays only the log after it (leader only; 0 for none). */
  readonly snapshotLsn: number;
  /** Size of that snapshot in bytes (0 for none). */
  readonly snapshotBytes: number;
  /** How this tab's leader opened the shard: the time each step took (leader only; `undefined` on a follower). */
  readonly opened: ShardOpenTimes | undefined;
  /**
   * Bytes of this shard's log that this tab's replicas verified with BLAKE3
   * since the database was opened here: its cross-tab follower (when
   * another tab leads) and its follower in another worker of this tab (when
   * this tab leads). Never decreases, across worker restarts and changes
   * of leader.
   */
  readonly bytesVerified: number;
  /** Payloads of this shard that this tab's replicas refused (failed verification); never decreases. */
  readonly payloadsRejected: number;
  /**
   * Messages on the shard's `BroadcastChannel`s (its log and its RPC) that this tab refused unread:
   * malformed, oversized, or past a receive queue's bound (another script of the origin, or a
   * broken tab, posted them). Never decreases.
   */
  readonly messagesRefused: number;
  /** Times this tab restarted the shard's worker. */
  readonly restarts: number;
}

/** What `stats()` returns. */
export interface TidalStats {
  /** This tab's id. */
  readonly tab: string;
  /** Where this tab keeps the logs it leads. */
  readonly storage: 'opfs' | 'memory';
  /**
   * The browser's answer to `navigator.storage.persist()`, asked when the
   * database opened on OPFS: `true` when the origin's storage will not be
   * evicted under storage pressure; `undefined` where it was not asked.
   */
  readonly persisted: boolean | undefined;
  /** `navigator.storage.estimate()` now: bytes the origin uses and may use (`undefined` where unavailable). */
  readonly estimate:
    | {
        /** Bytes the origin's storage uses now. */
        readonly usage: number;
        /** Bytes the browser lets the origin use. */
        readonly quota: number;
      }
    | undefined;
  /** One entry per shard, in shard order. */
  readonly shards: readonly ShardStats[];
}

/** An open database. */
export interface TidalDb {
  /** The database's name, as given to `openTidal`. */
  readonly name: string;
  /** The number of shards (one worker each). */
  readonly shards: number;
  /** This tab's id in the database (leader and follower addresses use it). */
  readonly tabId: string;
  /** Where the logs live: `'opfs'`, or `'memory'` where OPFS is missing (nothing survives a reload). */
  readonly storage: 'opfs' | 'memory';

  /** Adds `by` (a positive integer, default 1) to counter `kind` of `key`. */
  increment(key: string, kind: string, by?: number, options?: WriteOptions): Promise<WriteToken>;
  /** Subtracts `by` (default 1) from counter `kind` of `key`. */
  decrement(key: string, kind: string, by?: number, options?: WriteOptions): Promise<WriteToken>;
  /** Sets field `field` of `key` (last writer wins, by HLC). */
  set(key: string, field: string, value: Value, options?: WriteOptions): Promise<WriteToken>;
  /** Adds `member` to the grow-only set `setName` of `key`. */
  add(key: string, setName: string, member: Value, options?: WriteOptions): Promise<WriteToken>;
  /**
   * Writes many operations with one call and one promise:
   *
   *     await db.transact((tx) => {
   *       tx.increment('item-1', 'click');
   *       tx.set('item-1', 'label', 'cats');
   *     });
   *
   * `build` runs at once (synchronously) and adds the operations. What is guaranteed:
   * - **Per shard, all or nothing.** The operations for one shard (keys route to shards) are one
   *   write of this tab's session: one WAL event in one batch, durable together (after the flush in
   *   `'flush'` mode, before the promise resolves), applied together on every replica, exactly once
   *   across retries, worker restarts and failover. Within it, operations apply in the order added.
   *   (A shard's part of more than 10,000 operations is split into writes of 10,000, each one
   *   all or nothing.)
   * - **Across shards, not atomic.** Each shard's part commits on its own: a reader may see one
   *   shard's part before another's, and if one part is refused (e.g. `Overflow`) or the tab closes,
   *   the parts already committed stay. The promise then rejects with the first part's error, whose
   *   `details.committed` lists the tokens of the parts that did commit.
   * - Nothing is sent if `build` throws, or if any operation is invalid (`InvalidArgument`,
   *   `Unencodable`).
   */
  transact(build: (tx: TidalTransaction) => void, options?: WriteOptions): Promise<TransactResult>;

  /** The entity at `key`, or `undefined`. */
  get(key: string, options?: ReadOptions): Promise<Entity | undefined>;
  /** Entities whose key starts with `prefix`, in key order, at most `limit` (default 100, max 10,000). */
  scan(
    prefix: string,
    options?: ReadOptions & { limit?: number },
  ): Promise<
    {
      /** The entity's key. */
      key: string;
      /** The entity, as `get` would read it. */
      entity: Entity;
    }[]
  >;
  /** Calls `callback` for every change to a key starting with `prefix`, from any tab or worker. Returns the unsubscribe function. */
  subscribe(prefix: string, callback: (change: Change) => void): () => void;

  /** Resolves once every write issued before it is acknowledged. */
  flush(): Promise<void>;
  /** Per shard: role, leader tab, LSNs, lag, bytes verified, payloads rejected, restarts. */
  stats(): Promise<TidalStats>;
  /** Hands leadership over, stops the workers. Writes not yet acknowledged reject with `Closed`. */
  close(): Promise<void>;

  /**
   * `undefined` while this tab works. Once a tab running a newer tidal shares the database (after a
   * deploy, next to this older tab), this tab steps aside and this is the `TidalError` (code
   * `VersionSkew`) it stepped aside with: it no longer writes or leads, every acknowledged write is
   * kept (the newer tab leads on from them), and every call rejects with this error. Ask the user to
   * reload. See docs/ARCHITECTURE.md, "Version skew".
   */
  readonly superseded: TidalError | undefined;
  /**
   * Calls `callback` once this tab has stepped aside for a newer tidal (`superseded` is set, its locks
   * are let go): at once (in a microtask) if it already has. Returns the unsubscribe function.
   *
   *     db.onSuperseded(() => showBanner('tidal was updated: reload this page to go on'));
   */
  onSuperseded(callback: (error: TidalError) => void): () => void;

  /** Device sync: present only when opened with `{ sync }`. */
  readonly sync: TidalSync | undefined;

  /** Fault injection: present only when opened with `{ debug: true }`. */
  readonly debug: TidalDebug | undefined;
}
