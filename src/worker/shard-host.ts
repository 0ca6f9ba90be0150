/**
 * `ShardHost`: what runs in a shard's Web Worker, one per shard per tab,
 * exposed to the tab's main thread with comlink (shard-host.worker.ts).
 *
 * It puts together the ideas of the worker layer, one module each:
 *
 * - `leadership.ts`: the role (`leader | follower | starting`, one union
 *   holding what each role owns), claims and announcements by lock term;
 * - `write-forwarding.ts`: a follower tab's writes sent to the leader tab;
 * - `change-feed.ts`: changed entities reported to the main thread;
 * - `in-tab-follower.ts`: the verified copy of a neighbouring shard's log
 *   led in this tab;
 * - `host-status.ts`: what `status()` tells the main thread.
 *
 * Either way it holds the shard's state, so reads are answered locally,
 * after waiting for a token when one is given (read-your-writes).
 */
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import type { FollowerDb } from '../replication/follower-db.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardLeader } from '../session/shard-leader.js';
import type { WriteRequest, WriteToken } from '../session/write.js';
import { startShardSync } from '../sync/device-sync.js';
import { SYNC_RETENTION } from '../sync/leader-sync-log.js';
import type { SyncRunner, SyncRunnerStats } from '../sync/sync-runner.js';
import type { Wal } from '../wal/wal.js';
import { FaultyTransport } from '../transport/faulty-transport.js';
import type { Change, Entity } from './api.js';
import { ChangeFeed } from './change-feed.js';
import { shardChannels } from './channels.js';
import { toEntity } from './entity.js';
import { hostStatus } from './host-status.js';
import { InTabFollower, shipToInTabFollower, stopShipping } from './in-tab-follower.js';
import { Leadership } from './leadership.js';
import type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';
import { newerProtocolOf, PROTOCOL_VERSION } from './protocol.js';
import { whenReadable } from './replica-read.js';
import { parseRpc, type RpcMessage, type WriteOutcome } from './tab-rpc.js';
import { WriteForwarding, serveForwarded } from './write-forwarding.js';
import { checkWriteFrame, decodeWriteFrame } from './write-frame.js';

export type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';

/** How often a read waiting for a replica looks again. */
const READ_POLL_MS = 10;

/** The part of a shard in one tab's worker. */
export class ShardHost {
  private readonly config: ShardHostConfig;
  private readonly clock: Clock;
  /** The shard's RPC channel between tabs (announcements, forwarded writes). */
  private readonly rpc: BroadcastChannel;
  private readonly feed: ChangeFeed;
  private readonly leadership: Leadership;
  private readonly forwarding: WriteForwarding;
  /** The in-tab follower this worker hosts for the previous shard, when this tab leads it. */
  private inTabFollower: InTabFollower | undefined;
  /** This worker incarnation (announcements name it; the main thread keeps its counters apart by it). */
  private readonly hostId = crypto.randomUUID();
  /** Messages on the shard's channels (RPC and log) this worker refused unread. */
  private refused = 0;
  private closed = false;
  /**
   * Set once this worker met a newer protocol or format than it speaks (a tab of a newer tidal shares
   * the database): it stepped aside for good, neither writing nor leading (`VersionSkew`).
   */
  private superseded: TidalError | undefined;
  /** Device sync of the shard, while this worker leads it (docs/SYNC.md). */
  private sync: { readonly runner: SyncRunner; readonly wal: Wal } | undefined;

  constructor(config: ShardHostConfig, clock: Clock = systemClock) {
    this.config = config;
    this.clock = clock;
    this.rpc = new BroadcastChannel(shardChannels(config.db, config.shard).rpc);
    this.rpc.onmessage = (event: MessageEvent) => this.onRpc(event.data);
    const post = (message: RpcMessage) => this.post(message);
    this.feed = new ChangeFeed(config.shard, clock);
    this.leadership = new Leadership({
      config,
      clock,
      hostId: this.hostId,
      feed: this.feed,
      post,
      onRefused: () => this.refused++,
    });
    this.forwarding = new WriteForwarding({
      shard: config.shard,
      tabId: config.tabId,
      requestTimeoutMs: config.requestTimeoutMs,
      clock,
      post,
    });
  }

  /** Answers (for the main thread's liveness check). */
  ping(): true {
    return true;
  }

  /** Registers the main thread's change listener (a comlink proxy). */
  onChanges(listener: (changes: Change[]) => void): void {
    this.feed.listen(listener);
  }

  /** The key prefixes subscribed to on the main thread (empty: report nothing, build nothing). */
  watch(prefixes: readonly string[]): void {
    this.feed.watch(prefixes);
  }

  // ---- Leadership ---------------------------------------------------------

  /**
   * Takes the shard's lead (the main thread holds its Web Lock, granted as
   * `term`: terms grow with every grant of the lock, so a newer leader's
   * term is always higher): recovers the log and starts shipping.
   */
  async becomeLeader(term: number): Promise<{ lastLsn: number }> {
    if (this.superseded) throw this.superseded;
    let led: { lastLsn: number };
    try {
      led = await this.leadership.becomeLeader(term);
    } catch (error) {
      if (isTidalError(error, 'VersionSkew')) await this.stepAside(error); // the log holds a newer format
      throw error;
    }
    if (this.superseded) {
      // A newer tab spoke while the log was being opened.
      await this.leadership.stepDown();
      throw this.superseded;
    }
    await this.startSync(term);
    return led;
  }

  /** Follows the shard's leader in another tab (the default role). */
  async becomeFollower(): Promise<void> {
    if (this.superseded) throw this.superseded;
    return this.leadership.becomeFollower();
  }

  /**
   * Steps aside for a newer tidal, for good: stops syncing, gives up the lead (its log is closed, every
   * acknowledged write already in it) and the follower, and from now on refuses writes and reads with
   * `error`. The main thread learns of it from `status()` and lets go of the shard's lock.
   */
  private async stepAside(error: TidalError): Promise<void> {
    if (this.superseded) return;
    this.superseded = error;
    this.stopSync();
    this.forwarding.close();
    await this.leadership
      .close()
      .catch((cause: unknown) => console.error(`tidal: shard ${this.config.shard} could not step aside cleanly`, cause));
  }

  /** Gives up the lead (the lock was lost or the tab is closing). */
  stepDown(): Promise<void> {
    this.stopSync();
    return this.leadership.stepDown();
  }

  // ---- Device sync --------------------------------------------------------

  /** Starts syncing the shard this worker now leads (when the database syncs), with the lead's term as writer epoch. */
  private async startSync(term: number): Promise<void> {
    const role = this.leadership.role;
    if (!this.config.sync || role.kind !== 'leader') return;
    this.stopSync();
    const runner = await startShardSync(this.config.sync, {
      database: this.config.db,
      wal: role.wal,
      leader: role.leader,
      shard: this.config.shard,
      shards: this.config.shards,
      term,
      clock: this.clock,
    });
    this.sync = { runner, wal: role.wal };
  }

  private stopSync(): void {
    this.sync?.runner.stop();
    this.sync?.wal.release(SYNC_RETENTION);
    this.sync = undefined;
  }

  /** The sync of this shard, while this worker still leads it with the log it started with. */
  private currentSync(): SyncRunner | undefined {
    const role = this.leadership.role;
    if (this.sync && (role.kind !== 'leader' || role.wal !== this.sync.wal)) this.stopSync(); // stepped down meanwhile
    return this.sync?.runner;
  }

  /** Runs a sync round of this shard now; `undefined` if this worker does not lead it (or the database does not sync). */
  async syncNow(): Promise<SyncRunnerStats | undefined> {
    return this.currentSync()?.now();
  }

  /** This shard's sync stats, if this worker leads it and the database syncs. */
  syncStats(): SyncRunnerStats | undefined {
    return this.currentSync()?.stats();
  }

  // ---- The in-tab follower ------------------------------------------------

  /** Ships this (leader) shard's log to its in-tab follower at the other end of `port`, in worker `replica`. */
  shipToInTabFollower(port: MessagePort, replica: string): void {
    const role = this.leadership.role;
    if (role.kind !== 'leader') throw new TidalError('Closed', `shard ${this.config.shard} is not led here`);
    stopShipping(role.inTab);
    role.inTab = shipToInTabFollower({
      wal: role.wal,
      leader: { shard: this.config.shard, replica: this.config.tabId },
      port,
      replica,
      clock: this.clock,
      debug: this.config.debug,
      snapshots: role.snapshotSource,
    });
  }

  /** Hosts the in-tab follower of shard `shard` (led in this tab, by another worker). */
  async hostInTabFollower(shard: ShardId, port: MessagePort, replica: string): Promise<void> {
    await this.inTabFollower?.close();
    this.inTabFollower = await InTabFollower.open({ shard, port, replica, tabId: this.config.tabId, clock: this.clock });
  }

  // ---- The tab RPC channel ------------------------------------------------

  private post(message: RpcMessage): void {
    if (!this.closed) this.rpc.postMessage(message); // BroadcastChannel clones the message for every tab
  }

  private onRpc(data: unknown): void {
    if (this.superseded) return;
    const message = parseRpc(data, this.config.shard);
    if (!message) {
      const newer = newerProtocolOf(data);
      if (newer === undefined) this.refused++;
      else void this.stepAside(skewError(this.config.db, `a tab speaks protocol ${newer}`, { protocol: newer }));
      return;
    }
    switch (message.t) {
      case 'leader':
        this.leadership.onAnnouncement(message);
        return;
      case 'who':
        this.leadership.announce();
        return;
      case 'write':
        if (message.to === this.config.tabId) void this.serveForwarded(message);
        return;
      case 'result':
        this.forwarding.settle(message);
        return;
    }
  }

  private async serveForwarded(message: Extract<RpcMessage, { t: 'write' }>): Promise<void> {
    const leader = this.leadership.role.kind === 'leader' ? (frame: Uint8Array) => this.admitFrame(frame) : undefined;
    const answer = await serveForwarded(message, this.config.tabId, leader);
    if (answer.outcomes.length === 0) this.refused++; // a frame refused whole
    this.post(answer);
  }

  // ---- Writes -------------------------------------------------------------

  /**
   * Admits a tick's writes for this shard, as one write frame
   * (write-frame.ts, its buffer transferred from the main thread): here if
   * this tab leads the shard, else forwarded to the leader tab. A frame
   * refused whole rejects with `MalformedMessage`; a write refused within
   * it has its own outcome.
   */
  async write(frame: Uint8Array): Promise<WriteOutcome[]> {
    if (this.superseded) throw this.superseded;
    const role = this.leadership.role;
    if (role.kind === 'leader') return this.admitFrame(frame);
    const count = checkWriteFrame(frame, this.config.shard);
    const leaderTab = this.leadership.leaderTab;
    if (!leaderTab || leaderTab === this.config.tabId || role.kind !== 'follower') {
      // No leader known, or this tab is still taking the lead: the session writer resends shortly.
      throw new TidalError('Closed', `shard ${this.config.shard} has no leader ready yet; the writes will be resent`);
    }
    return this.forwarding.forward(leaderTab, frame, count);
  }

  /** Reads a frame's writes, each checked on its own, and admits those that are well-formed; the outcomes in frame order. */
  private async admitFrame(frame: Uint8Array): Promise<WriteOutcome[]> {
    const entries = decodeWriteFrame(frame, this.config.shard);
    const requests: WriteRequest[] = [];
    for (const entry of entries) if (entry.ok) requests.push(entry.request);
    const admitted = requests.length > 0 ? await this.admit(requests) : [];
    let next = 0;
    return entries.map((entry) => (entry.ok ? admitted[next++]! : outcomeOf(entry.error)));
  }

  private async admit(requests: readonly WriteRequest[]): Promise<WriteOutcome[]> {
    const role = this.leadership.role;
    if (role.kind !== 'leader') throw new TidalError('Closed', `shard ${this.config.shard} is not led here`);
    // The tick's writes are checked one by one and appended as one WAL batch.
    const outcomes = await role.leader.writeBatch(requests);
    return outcomes.map((outcome): WriteOutcome => (outcome.ok ? outcome : outcomeOf(outcome.error)));
  }

  // ---- Reads --------------------------------------------------------------

  /** The replica reads are answered from: the leader, or the follower of another tab's leader. */
  private currentReplica(): ShardLeader | FollowerDb | undefined {
    const role = this.leadership.role;
    if (role.kind === 'leader') return role.leader;
    if (role.kind === 'follower') return role.replica;
    return undefined;
  }

  /**
   * The replica to read from, once it has caught up with its leader (a fresh
   * follower) and applied `after`: a read waiting on a replica that is
   * replaced meanwhile (the role changed) moves to the next one
   * (replica-read.ts); `Timeout` past `timeoutMs`.
   */
  private readableReplica(after: WriteToken | undefined, timeoutMs: number): Promise<ShardLeader | FollowerDb> {
    return whenReadable({
      current: () => this.currentReplica(),
      refusal: () => this.superseded ?? (this.closed ? new TidalError('Closed', `shard ${this.config.shard}'s worker closed`) : undefined),
      clock: this.clock,
      after,
      timeoutMs,
      describe: `shard ${this.config.shard}`,
      pollMs: READ_POLL_MS,
    });
  }

  /**
   * The entity at `key`, once the replica has applied `after`; with the
   * LSN the replica had applied, which the reader's session remembers so
   * that its later reads never go back in time.
   */
  async get(key: string, after: WriteToken | undefined, timeoutMs: number): Promise<{ entity: Entity | undefined; lsn: number }> {
    const replica = await this.readableReplica(after, timeoutMs);
    return { entity: toEntity(this.leadership.role.state.crdt.entity(key)), lsn: replica.appliedLsn };
  }

  /** Entities under `prefix` (at most `limit`, in key order), like `get`. */
  async scan(
    prefix: string,
    limit: number,
    after: WriteToken | undefined,
    timeoutMs: number,
  ): Promise<{ rows: { key: string; entity: Entity }[]; lsn: number }> {
    const replica = await this.readableReplica(after, timeoutMs);
    const crdt = this.leadership.role.state.crdt;
    const keys = crdt
      .keys()
      .filter((k) => k.startsWith(prefix))
      .sort();
    return { rows: keys.slice(0, limit).map((key) => ({ key, entity: toEntity(crdt.entity(key))! })), lsn: replica.appliedLsn };
  }

  /** True once this host answers reads for its shard: it leads it, or follows its leader. */
  get ready(): boolean {
    return this.currentReplica() !== undefined;
  }

  // ---- Status and faults --------------------------------------------------

  status(): ShardHostStatus {
    // The message without the `VersionSkew: ` prefix the error's constructor gave it (the main thread builds its own error).
    const skew = this.superseded && {
      message: this.superseded.message.replace(/^VersionSkew: /, ''),
      details: { ...this.superseded.details },
    };
    const refused = { host: this.hostId, count: this.refused };
    return { ...hostStatus(this.config, this.leadership, this.inTabFollower, this.ready, refused), superseded: skew };
  }

  /** Flips a byte of the next payload this leader ships, to every follower (debug only). */
  corruptNextPayload(): void {
    this.injectNext('flip', 'corruptNextPayload');
  }

  /** Loses the next payload this leader ships, to every follower (debug only): they catch up on the next one. */
  dropNextPayload(): void {
    this.injectNext('drop', 'dropNextPayload');
  }

  private injectNext(fault: 'flip' | 'drop', what: string): void {
    this.requireDebug(what);
    const role = this.leadership.role;
    if (role.kind !== 'leader') {
      throw new TidalError(
        'InvalidArgument',
        `shard ${this.config.shard} is led by tab ${this.leadership.leaderTab ?? '(none yet)'}, not this one: call ${what} in the leader tab`,
      );
    }
    for (const shipping of [role.crossTab, role.inTab]) if (shipping?.link instanceof FaultyTransport) shipping.link.injectNext(fault);
  }

  /** Snapshots this (leader) shard now and compacts its log (debug only): see `TidalDebug.snapshotNow`. */
  async snapshotNow(): Promise<{ snapshotLsn: number; firstLsn: number }> {
    this.requireDebug('snapshotNow');
    const role = this.leadership.role;
    if (role.kind !== 'leader') {
      throw new TidalError(
        'InvalidArgument',
        `shard ${this.config.shard} is led by tab ${this.leadership.leaderTab ?? '(none yet)'}, not this one: snapshot it from the leader tab`,
      );
    }
    const taken = await role.snapshots.snapshotNow();
    await role.snapshots.compactLog();
    return { snapshotLsn: taken?.lsn ?? 0, firstLsn: role.wal.firstLsn };
  }

  /** Blocks this worker for `ms` (debug only: a hung worker answers nothing, ships nothing). */
  hang(ms: number): void {
    this.requireDebug('hang');
    const until = this.clock.now() + Math.min(Math.max(0, ms), 60_000);
    while (this.clock.now() < until) {
      // spin
    }
  }

  private requireDebug(what: string): void {
    if (!this.config.debug) throw new TidalError('InvalidArgument', `${what} is fault injection: open the database with { debug: true }`);
  }

  async close(): Promise<void> {
    this.stopSync();
    await this.leadership.close();
    await this.inTabFollower?.close();
    this.forwarding.close();
    this.closed = true;
    this.rpc.close();
  }
}

/** The `VersionSkew` error of a tab of database `db` that met a newer tidal (`what` says where). */
export function skewError(db: string, what: string, details: Record<string, unknown>): TidalError {
  return new TidalError(
    'VersionSkew',
    `${what} newer than this tab's tidal (protocol ${PROTOCOL_VERSION}) on database ${db}: this tab stepped aside, it neither writes nor leads; reload the page to run the newer tidal`,
    { details: { ...details, speaks: PROTOCOL_VERSION } },
  );
}

/** A refused write's outcome, as it crosses to the main thread (or another tab). */
function outcomeOf(error: unknown): WriteOutcome {
  return {
    ok: false,
    code: isTidalError(error) ? error.code : 'StorageError',
    message: error instanceof Error ? error.message : String(error),
  };
}
