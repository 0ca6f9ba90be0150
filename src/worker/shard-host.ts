/**
 * `ShardHost`: what runs in a shard's Web Worker, one per shard per tab,
 * exposed to the tab's main thread with comlink (shard-host.worker.ts).
 *
 * For its shard it is either the **leader** (this tab holds the shard's Web
 * Lock): it opens the shard's log on OPFS, admits writes through the
 * session bridge (`ShardLeader`), and ships the log to followers in other
 * tabs over the shard's `BroadcastChannel` and to a follower in another
 * worker of this tab over a `MessageChannel`; or a **follower**: it applies
 * the leader tab's log (verified, in order, exactly once) and forwards this
 * tab's writes to the leader. Independently, it may also host the in-tab
 * follower of a neighbouring shard whose leader is in this tab.
 *
 * Either way it holds the shard's state, so reads are answered locally,
 * after waiting for a token when one is given (read-your-writes).
 */
import { TidalError, isTidalError } from '../common/errors.js';
import { FollowerDb } from '../replication/follower-db.js';
import { WalShipper } from '../replication/wal-shipper.js';
import type { ShardId } from '../shard/shard-id.js';
import { waitForToken } from '../session/read.js';
import { ShardLeader } from '../session/shard-leader.js';
import { ShardState } from '../session/shard-state.js';
import type { WriteEvent, WriteRequest, WriteToken } from '../session/write.js';
import { BroadcastChannelTransport } from '../transport/broadcast-channel.js';
import { FaultyTransport } from '../transport/faulty-transport.js';
import { MessagePortTransport } from '../transport/message-port.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { OpfsStorage } from '../wal/opfs-storage.js';
import type { Value } from '../wal/payload.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal } from '../wal/wal.js';
import type { Change, Entity, ShardStats } from './api.js';
import { toEntity } from './entity.js';
import { parseRpc, type RpcMessage, type WriteOutcome } from './tab-rpc.js';

/** How a host is set up (sent once by the main thread). */
export interface ShardHostConfig {
  readonly db: string;
  readonly shard: ShardId;
  readonly shards: number;
  readonly tabId: string;
  readonly storage: 'opfs' | 'memory';
  readonly durability: 'flush' | 'relaxed';
  readonly requestTimeoutMs: number;
}

/** What the main thread learns from `status()`: a shard's `ShardStats` as this worker sees it, and more. */
export interface ShardHostStatus extends Omit<ShardStats, 'restarts'> {
  /** Identifies the follower whose counters `bytesVerified` and `payloadsRejected` are (a new one starts from 0). */
  readonly followerId: string | undefined;
  /** The host answers reads: it leads the shard, or follows its leader. */
  readonly ready: boolean;
  /** Milliseconds since the leader tab was last heard (0 when this tab leads). */
  readonly leaderSilentMs: number;
  /** The in-tab follower this worker hosts for another shard led in this tab, if any. */
  readonly inTabFollower:
    { readonly id: string; readonly shard: ShardId; readonly bytesVerified: number; readonly payloadsRejected: number } | undefined;
}

/** A `ShardState` that reports which keys each applied write changed, while someone listens. */
class ObservedState extends ShardState {
  private readonly observer: { readonly watching: boolean; changed(lsn: number, key: string): void };

  constructor(observer: { readonly watching: boolean; changed(lsn: number, key: string): void }) {
    super();
    this.observer = observer;
  }

  override apply(lsn: number, event: Value): void {
    super.apply(lsn, event); // validates the event as a write
    if (!this.observer.watching) return;
    for (const op of (event as unknown as WriteEvent).ops) this.observer.changed(lsn, op.key);
  }
}

const ANNOUNCE_MS = 250;
/** Longest stretch a log replay runs without yielding to the worker's event loop. */
const REPLAY_SLICE_MS = 50;

/** Lets queued tasks (messages) run, without the 4 ms clamp of nested timers. */
const yieldPort = new MessageChannel();
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    yieldPort.port1.onmessage = () => resolve();
    yieldPort.port2.postMessage(null);
  });
}
const OPEN_RETRY_MS = 50;
const OPEN_ATTEMPTS = 100; // a dead worker's OPFS handles can take a moment to be released

/** The part of a shard in one tab's worker. */
export class ShardHost {
  private readonly config: ShardHostConfig;
  /** This host (worker incarnation), as leader announcements name it. */
  private readonly hostId = crypto.randomUUID();
  /** The leading host last heard of. */
  private leaderHost: string | undefined;
  private readonly rpc: BroadcastChannel;
  private role: 'leader' | 'follower' | 'starting' = 'starting';
  private leaderTab: string | undefined;
  private leaderSince = -1;
  private leaderHeardAt = Date.now();
  private state: ObservedState;
  // Leader side.
  private wal: Wal | undefined;
  private leader: ShardLeader | undefined;
  private crossTabLink: FaultyTransport | undefined;
  private inTabLink: FaultyTransport | undefined;
  private inTabShipper: WalShipper | undefined;
  private crossTabShipper: WalShipper | undefined;
  private stopAnnouncing: (() => void) | undefined;
  // Follower side.
  private follower: FollowerDb | undefined;
  private followerStarting: Promise<void> | undefined;
  private readonly forwarded = new Map<
    number,
    { resolve(outcomes: readonly WriteOutcome[]): void; reject(error: unknown): void; timer: ReturnType<typeof setTimeout> }
  >();
  private nextForwardId = 1;
  // In-tab follower of the previous shard, when this tab leads it: a verified copy of its log.
  private neighbour: FollowerDb | undefined;
  // Subscriptions.
  private changeListener: ((changes: Change[]) => void) | undefined;
  /** Key prefixes the main thread has subscriptions for; nothing is reported without one. */
  private watched: readonly string[] = [];
  /** Keys changed this tick, with the LSN of their last change. */
  private pendingChanges = new Map<string, number>();
  private changesScheduled = false;
  private malformedRpc = 0;
  /** A unique id per follower this host creates (for cumulative counters on the main thread). */
  private readonly ids = new WeakMap<FollowerDb, string>();
  private closed = false;

  constructor(config: ShardHostConfig) {
    this.config = config;
    this.state = this.newState();
    this.rpc = new BroadcastChannel(`tidal:${config.db}:shard:${config.shard}:rpc`);
    this.rpc.onmessage = (event: MessageEvent) => this.onRpc(event.data);
  }

  private newState(): ObservedState {
    return new ObservedState(this);
  }

  /** True while changes are reported (some subscription exists, and this is not a replay). */
  get watching(): boolean {
    return this.watched.length > 0 && this.changeListener !== undefined && !this.replaying;
  }

  private replaying = false;

  private get address() {
    return { shard: this.config.shard, replica: this.config.tabId };
  }

  /** Answers (for the main thread's liveness check). */
  ping(): true {
    return true;
  }

  /** Registers the main thread's change listener (a comlink proxy). */
  onChanges(listener: (changes: Change[]) => void): void {
    this.changeListener = listener;
  }

  /** The key prefixes subscribed to on the main thread (empty: report nothing, build nothing). */
  watch(prefixes: readonly string[]): void {
    this.watched = [...prefixes];
  }

  /** Notes a changed key (from `ObservedState`); the tick's changes go out together. */
  changed(lsn: number, key: string): void {
    if (!this.watched.some((prefix) => key.startsWith(prefix))) return;
    this.pendingChanges.set(key, lsn);
    if (this.changesScheduled) return;
    this.changesScheduled = true;
    // One message per tick, not one per event; entities are read once the tick's writes are applied.
    setTimeout(() => {
      this.changesScheduled = false;
      const changes: Change[] = [];
      for (const [key, lsn] of this.pendingChanges)
        changes.push({ key, entity: toEntity(this.state.crdt.entity(key)), shard: this.config.shard, lsn });
      this.pendingChanges.clear();
      if (changes.length > 0) this.changeListener?.(changes);
    }, 0);
  }

  // ---- Leadership ---------------------------------------------------------

  /**
   * Takes the shard's lead (the main thread holds its Web Lock, granted as
   * `term`: terms grow with every grant of the lock, so a newer leader's
   * term is always higher): recovers the log and starts shipping.
   */
  async becomeLeader(term: number): Promise<{ lastLsn: number }> {
    if (this.role === 'leader') return { lastLsn: this.wal!.lastLsn };
    // Claim the lead before touching the log: a previous leader that lost its lock while it
    // was hung still holds the log's exclusive handles, and steps down (letting go of them)
    // when it hears of a newer leader. Until then the log cannot be opened, and this host
    // goes on following.
    this.leaderSince = term;
    this.leaderTab = this.config.tabId;
    this.claiming = true;
    this.announce();
    this.stopAnnouncing?.();
    const timer = setInterval(() => this.announce(), ANNOUNCE_MS);
    this.stopAnnouncing = () => clearInterval(timer);
    let wal: Wal;
    try {
      ({ wal } = await this.openWal(await this.openStorage()));
    } catch (error) {
      this.claiming = false;
      this.stopAnnouncing();
      throw error;
    }
    if (!this.claiming) {
      // A newer leader appeared while the log was being opened: it is theirs.
      await wal.close();
      throw new TidalError('Closed', `shard ${this.config.shard} is led by tab ${this.leaderTab} (a newer term)`);
    }
    this.claiming = false;
    await this.stopFollowing();
    // A fresh state replayed from the log (the follower's may lag what the old leader wrote).
    const state = this.newState();
    this.replaying = true; // replay is not news
    try {
      let yieldedAt = performance.now();
      // Wal.open has just verified every byte of the log: the replay checks structure only.
      for await (const { lsn, event } of wal.read(1, { verify: false })) {
        state.apply(lsn, event);
        if (performance.now() - yieldedAt > REPLAY_SLICE_MS) {
          // Let the worker answer the main thread's liveness checks while a long log replays.
          await yieldToEventLoop();
          yieldedAt = performance.now();
        }
      }
    } finally {
      this.replaying = false;
    }
    this.state = state;
    this.wal = wal;
    this.leader = await ShardLeader.open({ wal, replica: `${this.config.tabId}.${this.config.shard}`, state });
    this.crossTabLink = new FaultyTransport(
      new BroadcastChannelTransport(new BroadcastChannel(`tidal:${this.config.db}:shard:${this.config.shard}:log`), {
        local: this.address,
      }),
    );
    this.crossTabShipper = new WalShipper({ wal, transport: this.crossTabLink, admit: () => true });
    this.crossTabShipper.start();
    this.role = 'leader';
    this.leaderTab = this.config.tabId;
    this.announce();
    return { lastLsn: wal.lastLsn };
  }

  /** Ships this (leader) shard's log to the in-tab follower at the other end of `port`, in worker `replica`. */
  attachInTabFollower(port: MessagePort, replica: string): void {
    if (this.role !== 'leader' || !this.wal) throw new TidalError('Closed', `shard ${this.config.shard} is not led here`);
    this.inTabShipper?.stop();
    this.inTabLink?.close();
    const follower = { shard: this.config.shard, replica };
    this.inTabLink = new FaultyTransport(new MessagePortTransport(port, { local: this.address, remote: follower }));
    this.inTabShipper = new WalShipper({ wal: this.wal, transport: this.inTabLink, followers: [follower] });
    this.inTabShipper.start();
  }

  /** Hosts the in-tab follower of shard `shard` (led in this tab, by another worker). */
  async followInTab(shard: ShardId, port: MessagePort, replica: string): Promise<void> {
    await this.neighbour?.close();
    this.neighbour = await this.named(
      FollowerDb.open({
        storage: new MemoryStorage(),
        shard,
        transport: new MessagePortTransport(port, { local: { shard, replica }, remote: { shard, replica: this.config.tabId } }),
        leader: { shard, replica: this.config.tabId },
        durable: false, // a copy of the log and its applied LSN; its events are verified, not applied
      }),
    );
  }

  private async named(opening: Promise<FollowerDb>): Promise<FollowerDb> {
    const follower = await opening;
    this.ids.set(follower, crypto.randomUUID());
    return follower;
  }

  /** Follows the shard's leader in another tab (the default role). */
  async becomeFollower(): Promise<void> {
    if (this.role === 'leader') await this.stepDown();
    this.role = 'follower';
    this.post({ v: 1, t: 'who', shard: this.config.shard, tab: this.config.tabId });
    if (this.leaderTab && this.leaderTab !== this.config.tabId) await this.followLeader(this.leaderTab);
  }

  /** Gives up the lead (the lock was lost or the tab is closing). */
  async stepDown(): Promise<void> {
    if (this.role !== 'leader') {
      if (!this.claiming) this.stopAnnouncing?.();
      return;
    }
    this.role = 'starting';
    this.stopAnnouncing?.();
    this.crossTabShipper?.stop();
    this.crossTabShipper = undefined;
    this.inTabShipper?.stop();
    this.inTabShipper = undefined;
    this.crossTabLink?.close();
    this.inTabLink?.close();
    this.crossTabLink = this.inTabLink = undefined;
    this.leader = undefined;
    const wal = this.wal;
    this.wal = undefined;
    if (this.leaderTab === this.config.tabId) this.leaderTab = undefined;
    await wal?.close();
  }

  /** Taking the lead: the log is being opened (announced, so that the previous leader steps down). */
  private claiming = false;

  private announce(): void {
    if (this.role === 'leader' || this.claiming) {
      this.post({ v: 1, t: 'leader', shard: this.config.shard, tab: this.config.tabId, since: this.leaderSince, host: this.hostId });
    }
  }

  private post(message: RpcMessage): void {
    if (!this.closed) this.rpc.postMessage(message); // BroadcastChannel clones the message for every tab
  }

  private onRpc(data: unknown): void {
    const message = parseRpc(data, this.config.shard);
    if (!message) {
      this.malformedRpc++;
      return;
    }
    switch (message.t) {
      case 'leader': {
        if (message.tab === this.config.tabId) return;
        if (message.since < this.leaderSince) return; // an older leader's last words
        this.leaderHeardAt = Date.now();
        const newer = message.since > this.leaderSince;
        const wasLeading = this.role === 'leader' || this.claiming;
        if (wasLeading && !newer) return;
        const changed = newer || message.tab !== this.leaderTab || message.host !== this.leaderHost;
        if (!changed) return;
        const sameTab = message.tab === this.leaderTab;
        this.leaderSince = message.since;
        this.leaderTab = message.tab;
        this.leaderHost = message.host;
        if (wasLeading) {
          // A newer term: this tab's lock was taken while it could not answer. Let go of the log.
          this.claiming = false;
          void this.stepDown().then(() => this.becomeFollower());
        } else if (this.role === 'follower') {
          if (this.follower && sameTab)
            this.follower.reintroduce(); // a restarted worker of the same tab: it does not know us yet
          else void this.followLeader(message.tab);
        }
        return;
      }
      case 'who':
        this.announce();
        return;
      case 'write':
        if (message.to === this.config.tabId) void this.serveForwarded(message);
        return;
      case 'result': {
        if (message.to !== this.config.tabId) return;
        const pending = this.forwarded.get(message.id);
        if (!pending) return;
        this.forwarded.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve(message.outcomes);
        return;
      }
    }
  }

  private async followLeader(tab: string): Promise<void> {
    const leader = { shard: this.config.shard, replica: tab };
    if (this.follower) {
      this.follower.setLeader(leader);
      return;
    }
    if (this.followerStarting) return this.followerStarting;
    this.followerStarting = (async () => {
      const state = this.newState();
      this.state = state;
      this.follower = await this.named(
        FollowerDb.open({
          storage: new MemoryStorage(),
          shard: this.config.shard,
          transport: new BroadcastChannelTransport(new BroadcastChannel(`tidal:${this.config.db}:shard:${this.config.shard}:log`), {
            local: this.address,
          }),
          leader: { shard: this.config.shard, replica: this.leaderTab ?? tab },
          stateMachine: state,
          durable: false,
        }),
      );
    })();
    try {
      await this.followerStarting;
    } finally {
      this.followerStarting = undefined;
    }
  }

  private async stopFollowing(): Promise<void> {
    await this.followerStarting?.catch(() => undefined);
    const follower = this.follower;
    this.follower = undefined;
    await follower?.close();
  }

  // ---- Writes -------------------------------------------------------------

  /**
   * Admits a tick's writes for this shard (one message per shard per tick):
   * here if this tab leads the shard, else forwarded to the leader tab.
   */
  async write(requests: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    if (this.role === 'leader' && this.leader) return this.admit(requests);
    const leaderTab = this.leaderTab;
    if (!leaderTab || leaderTab === this.config.tabId || this.role !== 'follower') {
      // No leader known, or this tab is still taking the lead: the session writer resends shortly.
      throw new TidalError('Closed', `shard ${this.config.shard} has no leader ready yet; the writes will be resent`);
    }
    const id = this.nextForwardId++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.forwarded.delete(id);
        reject(
          new TidalError(
            'Timeout',
            `the leader tab of shard ${this.config.shard} did not answer within ${this.config.requestTimeoutMs} ms`,
          ),
        );
      }, this.config.requestTimeoutMs);
      this.forwarded.set(id, { resolve: (outcomes) => resolve([...outcomes]), reject, timer });
      this.post({ v: 1, t: 'write', shard: this.config.shard, from: this.config.tabId, to: leaderTab, id, requests });
    });
  }

  private async admit(requests: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    // The tick's writes are checked one by one and appended as one WAL batch.
    const outcomes = await this.leader!.writeBatch(requests);
    return outcomes.map((outcome): WriteOutcome =>
      outcome.ok
        ? outcome
        : {
            ok: false,
            code: isTidalError(outcome.error) ? outcome.error.code : 'StorageError',
            message: outcome.error instanceof Error ? outcome.error.message : String(outcome.error),
          },
    );
  }

  private async serveForwarded(message: Extract<RpcMessage, { t: 'write' }>): Promise<void> {
    let outcomes: WriteOutcome[];
    if (this.role !== 'leader' || !this.leader) {
      outcomes = message.requests.map(() => ({
        ok: false,
        code: 'Closed',
        message: `tab ${this.config.tabId} does not lead shard ${this.config.shard}`,
      }));
    } else {
      outcomes = await this.admit(message.requests); // each request is validated by ShardLeader.write
    }
    this.post({ v: 1, t: 'result', shard: this.config.shard, from: this.config.tabId, to: message.from, id: message.id, outcomes });
  }

  // ---- Reads --------------------------------------------------------------

  /** The replica reads are answered from: the leader, or the follower of another tab's leader. */
  private currentReplica(): ShardLeader | FollowerDb | undefined {
    if (this.role === 'leader' && this.leader) return this.leader;
    if (this.role === 'follower' && this.follower) return this.follower;
    return undefined;
  }

  /**
   * The replica to read from, once there is one (a host that is starting,
   * or between roles, has no state worth reading); `Timeout` past `timeoutMs`.
   */
  private async readableReplica(timeoutMs: number): Promise<ShardLeader | FollowerDb> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const replica = this.currentReplica();
      if (replica) return replica;
      if (Date.now() >= deadline) throw new TidalError('Timeout', `shard ${this.config.shard} has no replica in this tab yet`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * The entity at `key`, once the replica has applied `after`; with the
   * LSN the replica had applied, which the reader's session remembers so
   * that its later reads never go back in time.
   */
  async get(key: string, after: WriteToken | undefined, timeoutMs: number): Promise<{ entity: Entity | undefined; lsn: number }> {
    const replica = await this.readableReplica(timeoutMs);
    if (after) await waitForToken(replica, after, timeoutMs);
    return { entity: toEntity(this.state.crdt.entity(key)), lsn: replica.appliedLsn };
  }

  /** Entities under `prefix` (at most `limit`, in key order), like `get`. */
  async scan(
    prefix: string,
    limit: number,
    after: WriteToken | undefined,
    timeoutMs: number,
  ): Promise<{ rows: { key: string; entity: Entity }[]; lsn: number }> {
    const replica = await this.readableReplica(timeoutMs);
    if (after) await waitForToken(replica, after, timeoutMs);
    const keys = this.state.crdt
      .keys()
      .filter((k) => k.startsWith(prefix))
      .sort();
    return { rows: keys.slice(0, limit).map((key) => ({ key, entity: toEntity(this.state.crdt.entity(key))! })), lsn: replica.appliedLsn };
  }

  /** True once this host answers reads for its shard: it leads it, or follows its leader. */
  get ready(): boolean {
    return this.currentReplica() !== undefined;
  }

  // ---- Status and faults --------------------------------------------------

  status(): ShardHostStatus {
    const follower = this.follower;
    const neighbour = this.neighbour;
    const inTabFollower = neighbour
      ? {
          id: this.ids.get(neighbour)!,
          shard: neighbour.shard,
          bytesVerified: neighbour.counters.bytesVerified,
          payloadsRejected: neighbour.counters.payloadsRejected,
        }
      : undefined;
    const followerId = follower ? this.ids.get(follower) : undefined;
    const bytesVerified = follower?.counters.bytesVerified ?? 0;
    const payloadsRejected = follower?.counters.payloadsRejected ?? 0;
    if (this.role === 'leader' && this.wal) {
      return {
        shard: this.config.shard,
        role: 'leader',
        leaderTab: this.config.tabId,
        lsn: this.wal.lastLsn,
        appliedLsn: this.state.appliedLsn,
        lag: { lsns: 0, ms: 0 },
        segments: this.wal.segments().length,
        bytesVerified,
        payloadsRejected,
        followerId,
        ready: this.ready,
        leaderSilentMs: 0,
        inTabFollower,
      };
    }
    return {
      shard: this.config.shard,
      role: this.role === 'leader' ? 'starting' : this.role,
      leaderTab: this.leaderTab,
      lsn: follower ? follower.appliedLsn + follower.lag.lsns : 0,
      appliedLsn: this.state.appliedLsn,
      lag: follower?.lag ?? { lsns: 0, ms: 0 },
      segments: 0,
      bytesVerified,
      payloadsRejected,
      followerId,
      ready: this.ready,
      leaderSilentMs: Date.now() - this.leaderHeardAt,
      inTabFollower,
    };
  }

  /** Flips a byte of the next payload this leader ships, to every follower. */
  corruptNextPayload(): void {
    if (this.role !== 'leader') {
      throw new TidalError(
        'InvalidArgument',
        `shard ${this.config.shard} is led by tab ${this.leaderTab ?? '(none yet)'}, not this one: corrupt its payloads from the leader tab`,
      );
    }
    this.crossTabLink?.injectNext('flip');
    this.inTabLink?.injectNext('flip');
  }

  /** Blocks this worker for `ms` (fault injection: a hung worker answers nothing, ships nothing). */
  hang(ms: number): void {
    const until = Date.now() + Math.min(Math.max(0, ms), 60_000);
    while (Date.now() < until) {
      // spin
    }
  }

  async close(): Promise<void> {
    await this.stepDown();
    await this.stopFollowing();
    await this.neighbour?.close();
    for (const pending of this.forwarded.values()) {
      clearTimeout(pending.timer);
      pending.reject(new TidalError('Closed', 'the shard host closed'));
    }
    this.forwarded.clear();
    this.closed = true;
    this.rpc.close();
  }

  private async openStorage(): Promise<WalStorage> {
    if (this.config.storage === 'memory') return (this.memory ??= new MemoryStorage());
    return OpfsStorage.open(['tidal', this.config.db]);
  }

  private memory: MemoryStorage | undefined;

  private async openWal(storage: WalStorage): Promise<{ wal: Wal }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Wal.open(storage, { shard: this.config.shard, durable: this.config.durability === 'flush' });
      } catch (error) {
        // The previous leader's worker may still be letting go of its exclusive handles.
        if (!isTidalError(error, 'StorageError') || attempt >= OPEN_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS));
      }
    }
  }
}
