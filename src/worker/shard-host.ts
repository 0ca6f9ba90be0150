/**
 * `ShardHost`: what runs in a shard's Web Worker, one per shard per tab,
 * exposed to the tab's main thread with comlink (shard-host.worker.ts).
 *
 * It is the front of the worker layer's ideas, one module each:
 *
 * - `leadership.ts`: the role (`leader | follower | starting`, one union
 *   holding what each role owns), claims and announcements by lock term;
 * - `write-admission.ts`: a tick's write frame admitted by the leader;
 * - `write-forwarding.ts`: a follower tab's writes sent to the leader tab;
 * - `host-reads.ts` (with `replica-read.ts`): reads answered from the
 *   replica, after a token;
 * - `change-feed.ts`: changed entities reported to the main thread;
 * - `in-tab-follower.ts`: the verified copy of a neighbouring shard's log
 *   led in this tab;
 * - `host-sync.ts`: device sync of the shard while this worker leads it;
 * - `host-status.ts`: what `status()` tells the main thread;
 * - `host-faults.ts`: the `{ debug: true }` fault hooks.
 *
 * What it keeps itself: the shard's RPC channel between tabs (each
 * message handed to the module it is for), and stepping aside for good
 * when a newer tidal shares the database (`VersionSkew`).
 */
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardLeader } from '../session/shard-leader.js';
import type { WriteToken } from '../session/write.js';
import type { SyncRunnerStats } from '../sync/sync-runner.js';
import type { Change, Entity } from './api.js';
import { ChangeFeed } from './change-feed.js';
import { shardChannels } from './channels.js';
import type { EntityColumns } from './entity.js';
import { HostFaults } from './host-faults.js';
import { HostReads, currentReplica } from './host-reads.js';
import { hostStatus } from './host-status.js';
import { HostSync } from './host-sync.js';
import { InTabFollower, shipToInTabFollower, stopShipping } from './in-tab-follower.js';
import { Leadership } from './leadership.js';
import type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';
import { newerProtocolOf, skewError } from './protocol.js';
import { parseRpc, type RpcMessage, type WriteOutcome } from './tab-rpc.js';
import { admitFrame } from './write-admission.js';
import { WriteForwarding, serveForwarded } from './write-forwarding.js';
import { checkWriteFrame } from './write-frame.js';

export type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';

/** The part of a shard in one tab's worker. */
export class ShardHost {
  private readonly config: ShardHostConfig;
  private readonly clock: Clock;
  /** The shard's RPC channel between tabs (announcements, forwarded writes). */
  private readonly rpc: BroadcastChannel;
  private readonly feed: ChangeFeed;
  private readonly leadership: Leadership;
  private readonly forwarding: WriteForwarding;
  private readonly reads: HostReads;
  private readonly sync: HostSync;
  private readonly faults: HostFaults;
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
      onVersionSkew: (error) => void this.stepAside(error), // the leader tab writes a newer format
    });
    this.forwarding = new WriteForwarding({
      shard: config.shard,
      tabId: config.tabId,
      requestTimeoutMs: config.requestTimeoutMs,
      clock,
      post,
    });
    this.reads = new HostReads({
      shard: config.shard,
      leadership: this.leadership,
      clock,
      refusal: () => this.superseded ?? (this.closed ? new TidalError('Closed', `shard ${this.config.shard}'s worker closed`) : undefined),
    });
    this.sync = new HostSync(config, clock);
    this.faults = new HostFaults(config, this.leadership, clock);
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

  // ---- Leadership (leadership.ts) -----------------------------------------

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
    await this.sync.start(this.leadership.role, term);
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
    this.sync.stop();
    this.forwarding.close();
    await this.leadership
      .close()
      .catch((cause: unknown) => console.error(`tidal: shard ${this.config.shard} could not step aside cleanly`, cause));
  }

  /** Gives up the lead (the lock was lost or the tab is closing). */
  stepDown(): Promise<void> {
    this.sync.stop();
    return this.leadership.stepDown();
  }

  // ---- Device sync (host-sync.ts) -----------------------------------------

  /** Runs a sync round of this shard now; `undefined` if this worker does not lead it (or the database does not sync). */
  async syncNow(): Promise<SyncRunnerStats | undefined> {
    return (await this.sync.started(() => this.leadership.role))?.now();
  }

  /**
   * This shard's sync stats, if this worker leads it and the database syncs. Like `syncNow`, it waits
   * for a start under way (the sync code loads on first use, after the shard is readable), so that
   * writes made right after the open show as pending rather than the shard as not led.
   */
  async syncStats(): Promise<SyncRunnerStats | undefined> {
    return (await this.sync.started(() => this.leadership.role))?.stats();
  }

  // ---- The in-tab follower (in-tab-follower.ts) ---------------------------

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

  // ---- The tab RPC channel (tab-rpc.ts) -----------------------------------

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
    const leader = this.leadership.role.kind === 'leader' ? (frame: Uint8Array) => this.admitHere(frame) : undefined;
    const answer = await serveForwarded(message, this.config.tabId, leader);
    if (answer.outcomes.length === 0) this.refused++; // a frame refused whole
    this.post(answer);
  }

  // ---- Writes (write-admission.ts, write-forwarding.ts) -------------------

  /**
   * Admits a tick's writes for this shard, as one write frame
   * (write-frame.ts, its buffer transferred from the main thread): here if
   * this tab leads the shard, else forwarded to the leader tab. A frame
   * refused whole rejects with `MalformedMessage`; a write refused within
   * it has its own outcome. `answered` (the write port's reply) gets the
   * outcomes once the frame is committed here, before it is applied
   * (`admitFrame`); a forwarded frame is answered when its promise settles.
   */
  async write(frame: Uint8Array, answered?: (outcomes: WriteOutcome[]) => void): Promise<WriteOutcome[]> {
    if (this.superseded) throw this.superseded;
    const role = this.leadership.role;
    if (role.kind === 'leader') return this.admitHere(frame, answered);
    const count = checkWriteFrame(frame, this.config.shard);
    const leaderTab = this.leadership.leaderTab;
    if (!leaderTab || leaderTab === this.config.tabId || role.kind !== 'follower') {
      // No leader known, or this tab is still taking the lead: the session writer resends shortly.
      throw new TidalError('Closed', `shard ${this.config.shard} has no leader ready yet; the writes will be resent`);
    }
    return this.forwarding.forward(leaderTab, frame, count);
  }

  /** Admits a frame's writes to this worker's leader (`Closed` if it no longer leads when they are admitted). */
  private admitHere(frame: Uint8Array, answered?: (outcomes: WriteOutcome[]) => void): Promise<WriteOutcome[]> {
    const leader = (): ShardLeader => {
      const role = this.leadership.role;
      if (role.kind !== 'leader') throw new TidalError('Closed', `shard ${this.config.shard} is not led here`);
      return role.leader;
    };
    return admitFrame(leader, this.config.shard, frame, answered);
  }

  // ---- Reads (host-reads.ts) ----------------------------------------------

  /**
   * The entity at `key`, once the replica has applied `after`; with the
   * LSN the replica had applied, which the reader's session remembers so
   * that its later reads never go back in time.
   */
  async get(key: string, after: WriteToken | undefined, timeoutMs: number): Promise<{ entity: Entity | undefined; lsn: number }> {
    return this.reads.get(key, after, timeoutMs);
  }

  /** Entities under `prefix` (at most `limit`, in key order), as columns (`entitiesFromColumns` makes them entities), like `get`. */
  async scan(
    prefix: string,
    limit: number,
    after: WriteToken | undefined,
    timeoutMs: number,
  ): Promise<{ columns: EntityColumns; lsn: number }> {
    return this.reads.scan(prefix, limit, after, timeoutMs);
  }

  /** True once this host answers reads for its shard: it leads it, or follows its leader. */
  get ready(): boolean {
    return currentReplica(this.leadership.role) !== undefined;
  }

  // ---- Status (host-status.ts) and faults (host-faults.ts) ----------------

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
    this.faults.injectNext('flip', 'corruptNextPayload');
  }

  /** Loses the next payload this leader ships, to every follower (debug only): they catch up on the next one. */
  dropNextPayload(): void {
    this.faults.injectNext('drop', 'dropNextPayload');
  }

  /** Snapshots this (leader) shard now and compacts its log (debug only): see `TidalDebug.snapshotNow`. */
  snapshotNow(): Promise<{ snapshotLsn: number; firstLsn: number }> {
    return this.faults.snapshotNow();
  }

  /** Blocks this worker for `ms` (debug only: a hung worker answers nothing, ships nothing). */
  hang(ms: number): void {
    this.faults.hang(ms);
  }

  async close(): Promise<void> {
    this.sync.stop();
    await this.leadership.close();
    await this.inTabFollower?.close();
    this.forwarding.close();
    this.closed = true;
    this.rpc.close();
  }
}
