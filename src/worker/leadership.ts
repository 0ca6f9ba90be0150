/**
 * Leadership of one shard, as one worker sees it: the worker's role (one
 * `ShardRole`, holding what that role owns) and the leader last heard of.
 *
 * - **starting**: no role yet, or between roles; reads wait.
 * - **follower**: another tab leads; a `FollowerDb` applies that tab's log
 *   from the shard's log channel (verified, in order, exactly once).
 * - **leader**: this tab holds the shard's Web Lock; the log is open on
 *   OPFS, a `ShardLeader` admits writes, and the log is shipped to other
 *   tabs (and to the in-tab follower, see `in-tab-follower.ts`).
 *
 * Taking the lead is a **claim** first: the worker announces its term
 * before it touches the log, so that a previous leader that lost its lock
 * while it hung (and still holds the log's exclusive handles) hears of a
 * newer term and steps down. Until the log opens, the worker goes on in
 * its role. Announcements carry the term (`since`) and the leading worker
 * (`host`); the higher term leads.
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { FollowerDb } from '../replication/follower-db.js';
import { loadBlake3 } from '../common/blake3.js';
import { restoreShardSnapshot } from '../session/shard-snapshot.js';
import type { ShutdownSnapshot } from '../session/shard-snapshots.js';
import { BroadcastChannelTransport } from '../transport/broadcast-channel.js';
import type { DropReason } from '../transport/transport.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { OpfsStorage } from '../wal/opfs-storage.js';
import { databaseFolder } from './lock-terms.js';
import { databaseIdOf } from '../wal/snapshot-store.js';
import type { Snapshot } from '../wal/snapshot-file.js';
import type { WalStorage } from '../wal/storage.js';
import type { Wal } from '../wal/wal.js';
import type { ChangeFeed, ObservedState } from './change-feed.js';
import { shardChannels } from './channels.js';
import { openShardWal } from './leader-recovery.js';
import { closeLeaderRole, openLeaderRole, type LeaderRole } from './leader-role.js';
import type { ShardHostConfig } from './shard-host-config.js';
import { skewError } from './protocol.js';
import { RPC_VERSION, type RpcMessage } from './tab-rpc.js';

/** What a worker is for its shard, with what it owns in that role. */
export type ShardRole =
  | { readonly kind: 'starting'; readonly state: ObservedState }
  | {
      readonly kind: 'follower';
      state: ObservedState;
      /** The replica of the leader tab's log, once the leader is known. */
      replica: FollowerDb | undefined;
      /** Unique per replica opened, so the main thread keeps each one's counters apart. */
      replicaId: string | undefined;
      /** The replica being opened. */
      opening: Promise<void> | undefined;
    }
  | LeaderRole;

/** The leader last heard of (or this worker, when it leads or claims). */
interface HeardLeader {
  tab: string | undefined;
  /** Its term: grows with every grant of the shard's lock (-1 before any is heard). */
  term: number;
  /** The leading worker (a restarted worker of the same tab leads on in the same term). */
  host: string | undefined;
  /** When it was last heard (clock ms). */
  heardAt: number;
}

const ANNOUNCE_MS = 250;
/**
 * A heartbeat (the announcement timer) that comes this much later than due
 * means the worker stood still (its tab frozen, the worker hung) long
 * enough that another tab may have taken the lock: other tabs take the lead
 * after `leaderTimeoutMs` (default 3 s) of silence.
 */
const STOOD_STILL_MS = 1000;
/**
 * After standing still, a leader writes nothing of its own accord
 * (snapshots, compaction) for this long: the newer leader, if there is one,
 * announces itself every `ANNOUNCE_MS`, and this one steps down on hearing it.
 */
const IN_DOUBT_MS = 4 * ANNOUNCE_MS;

/** How a `Leadership` is set up. */
export interface LeadershipOptions {
  readonly config: ShardHostConfig;
  readonly clock: Clock;
  /** This worker incarnation, as announcements name it. */
  readonly hostId: string;
  readonly feed: ChangeFeed;
  /** Posts on the shard's RPC channel. */
  readonly post: (message: RpcMessage) => void;
  /** Told of every message the shard's log channel brought that its link refused (malformed, oversized, over a queue's bound). */
  readonly onRefused?: () => void;
  /**
   * Told when the leader tab's log is of a newer format than this build reads, or a message on the
   * log channel is of a newer transport protocol (`VersionSkew`): none of it was applied.
   */
  readonly onVersionSkew?: (error: TidalError) => void;
}

/** One worker's leadership of its shard: its role, claims and announcements. */
export class Leadership {
  private readonly config: ShardHostConfig;
  private readonly clock: Clock;
  private readonly hostId: string;
  private readonly feed: ChangeFeed;
  private readonly post: (message: RpcMessage) => void;
  /** The log channel's `onDrop`: a refused message is counted, one of a newer transport protocol is version skew. */
  private readonly onLogDrop: (reason: DropReason, detail: string, version?: number) => void;
  private readonly onVersionSkew: (error: TidalError) => void;
  private currentRole: ShardRole;
  private readonly heard: HeardLeader;
  /** Stops the announcements, sent while claiming or leading. */
  private stopAnnouncing: (() => void) | undefined;
  /** Taking the lead: the log is being opened (announced, so that the previous leader steps down). */
  private claiming = false;
  /** The log of `storage: 'memory'`, kept across terms in this worker. */
  private memory: MemoryStorage | undefined;
  /** When the heartbeat last ran (clock ms), while claiming or leading. */
  private beatAt = 0;
  /** When a heartbeat last found that this worker had stood still (`STOOD_STILL_MS`). */
  private stoodStillAt = Number.NEGATIVE_INFINITY;

  constructor(options: LeadershipOptions) {
    this.config = options.config;
    this.clock = options.clock;
    this.hostId = options.hostId;
    this.feed = options.feed;
    this.post = options.post;
    this.onVersionSkew = (error) => options.onVersionSkew?.(error);
    this.onLogDrop = (reason, _detail, version) => {
      if (reason !== 'newerVersion') return options.onRefused?.();
      // Stepping aside closes the transport that is calling: after its receive path returns.
      queueMicrotask(() =>
        this.onVersionSkew(
          skewError(this.config.db, `a tab ships shard ${this.config.shard}'s log in transport protocol ${version}`, {
            transport: version,
          }),
        ),
      );
    };
    this.currentRole = { kind: 'starting', state: this.feed.observedState() };
    this.heard = { tab: undefined, term: -1, host: undefined, heardAt: this.clock.now() };
  }

  get role(): ShardRole {
    return this.currentRole;
  }

  /** The tab that leads the shard, as last heard (this tab while it leads or claims). */
  get leaderTab(): string | undefined {
    return this.heard.tab;
  }

  /** Milliseconds since the leader was last heard. */
  get leaderSilentMs(): number {
    return this.clock.now() - this.heard.heardAt;
  }

  /**
   * Takes the shard's lead (the main thread holds its Web Lock, granted as
   * `term`): claims it, recovers the log, replays it and starts shipping.
   */
  async becomeLeader(term: number): Promise<{ lastLsn: number }> {
    if (this.currentRole.kind === 'leader') return { lastLsn: this.currentRole.wal.lastLsn };
    this.heard.term = term;
    this.heard.tab = this.config.tabId;
    this.claiming = true;
    this.announce();
    this.stopAnnouncing?.();
    this.beatAt = this.clock.now();
    this.stopAnnouncing = this.clock.every(ANNOUNCE_MS, () => this.beat());
    let wal: Wal;
    let storage: WalStorage;
    let tailMs: number;
    try {
      storage = await this.openStorage();
      ({ wal, ms: tailMs } = await openShardWal(storage, {
        shard: this.config.shard,
        durable: this.config.durability === 'flush',
        clock: this.clock,
      }));
    } catch (error) {
      this.claiming = false;
      this.stopAnnouncing();
      throw error;
    }
    if (!this.claiming) {
      // A newer leader appeared while the log was being opened, or this tab lost the lock meanwhile
      // (told to follow): the log is not this worker's to lead.
      await wal.close();
      throw new TidalError('Closed', `shard ${this.config.shard}: the claim of term ${term} was given up while the log opened`);
    }
    this.claiming = false;
    await this.stopFollowing();
    this.currentRole = await openLeaderRole({
      config: this.config,
      clock: this.clock,
      feed: this.feed,
      storage,
      wal,
      tailMs,
      address: this.address,
      onLogDrop: this.onLogDrop,
      leadInDoubt: () => this.leadInDoubt(),
    });
    this.heard.tab = this.config.tabId;
    this.announce();
    return { lastLsn: wal.lastLsn };
  }

  /**
   * Follows the shard's leader in another tab (the default role). A claim
   * under way is given up: the tab no longer holds the lock it was made for
   * (taken by another tab while this one was still opening the log), and a
   * worker that went on to lead would be a second leader, one the lock
   * holder's claims of an equal term do not make step down.
   */
  async becomeFollower(): Promise<void> {
    if (this.claiming) {
      this.claiming = false;
      this.stopAnnouncing?.();
      this.heard.heardAt = this.clock.now(); // as in stepDown: the lock's new holder gets its time to speak
      if (this.heard.tab === this.config.tabId) this.heard.tab = undefined;
    }
    if (this.currentRole.kind === 'leader') await this.stepDown();
    if (this.currentRole.kind !== 'follower') {
      this.currentRole = { kind: 'follower', state: this.currentRole.state, replica: undefined, replicaId: undefined, opening: undefined };
    }
    this.post({ v: RPC_VERSION, t: 'who', shard: this.config.shard, tab: this.config.tabId });
    const tab = this.heard.tab;
    if (tab && tab !== this.config.tabId) await this.followLeader(tab);
  }

  /** Gives up the lead (the lock was lost or the tab is closing). */
  async stepDown(): Promise<void> {
    await this.giveUpLead(false);
  }

  /**
   * Gives up the lead; a `clean` one (the database closing) takes the
   * shutdown snapshot first (`closeLeaderRole`), unless the lead is in
   * doubt. Resolves with what that snapshot did, if one was considered.
   */
  private async giveUpLead(clean: boolean): Promise<ShutdownSnapshot | undefined> {
    const role = this.currentRole;
    if (role.kind !== 'leader') {
      if (!this.claiming) this.stopAnnouncing?.();
      return undefined;
    }
    this.currentRole = { kind: 'starting', state: role.state };
    this.stopAnnouncing?.();
    // The lead changed hands: its successor gets a whole leaderTimeoutMs to be heard before this tab
    // may take the lock back (the last leader heard was this worker itself, long ago).
    this.heard.heardAt = this.clock.now();
    if (this.heard.tab === this.config.tabId) this.heard.tab = undefined;
    // Judged before anything is awaited: a leader that stood still may have lost the lock unawares.
    const refusal = this.leadInDoubt() ? 'the lead is in doubt (the worker stood still)' : undefined;
    return closeLeaderRole(role, clean ? { refusal } : undefined);
  }

  /** A leader announcement from another tab (or worker): follow it, or step down for a newer term. */
  onAnnouncement(message: Extract<RpcMessage, { t: 'leader' }>): void {
    if (message.tab === this.config.tabId) return;
    if (message.since < this.heard.term) return; // an older leader's last words
    this.heard.heardAt = this.clock.now();
    const newer = message.since > this.heard.term;
    const wasLeading = this.currentRole.kind === 'leader' || this.claiming;
    if (wasLeading && !newer) return;
    const changed = newer || message.tab !== this.heard.tab || message.host !== this.heard.host;
    if (!changed) return;
    const sameTab = message.tab === this.heard.tab;
    this.heard.term = message.since;
    this.heard.tab = message.tab;
    this.heard.host = message.host;
    const role = this.currentRole;
    if (wasLeading) {
      // A newer term: this tab's lock was taken while it could not answer. Let go of the log.
      this.claiming = false;
      void this.stepDown().then(() => this.becomeFollower());
    } else if (role.kind === 'follower') {
      if (role.replica && sameTab)
        role.replica.reintroduce(); // a restarted worker of the same tab: it does not know us yet
      else void this.followLeader(message.tab);
    }
  }

  /**
   * True while this leader may have lost its lead without knowing it yet: its
   * heartbeat is overdue now, or found within `IN_DOUBT_MS` that the worker
   * had stood still (a frozen tab wakes: its timers may run before the newer
   * leader's announcement is read). A leader in doubt takes no snapshot and
   * compacts nothing; if no newer leader speaks, it goes on once the doubt
   * passes. (Appends are not held back: while this worker holds the log's
   * exclusive handles no other leader can have opened the log.)
   */
  private leadInDoubt(): boolean {
    const now = this.clock.now();
    return now - this.beatAt > STOOD_STILL_MS + ANNOUNCE_MS || now - this.stoodStillAt < IN_DOUBT_MS;
  }

  /** The heartbeat, every `ANNOUNCE_MS` while claiming or leading: notes a stretch the worker stood still, and announces. */
  private beat(): void {
    const now = this.clock.now();
    if (now - this.beatAt > STOOD_STILL_MS + ANNOUNCE_MS) this.stoodStillAt = now;
    this.beatAt = now;
    this.announce();
  }

  /** Announces this worker as leader, while it leads or claims (also the answer to a `who`). */
  announce(): void {
    if (this.currentRole.kind === 'leader' || this.claiming) {
      this.post({
        v: RPC_VERSION,
        t: 'leader',
        shard: this.config.shard,
        tab: this.config.tabId,
        since: this.heard.term,
        host: this.hostId,
      });
    }
  }

  /**
   * Lets go of everything, cleanly: the log (if leading, after its shutdown
   * snapshot), the follower (if following). Resolves with what the shutdown
   * snapshot did, if this worker led.
   */
  async close(): Promise<ShutdownSnapshot | undefined> {
    const snapshot = await this.giveUpLead(true);
    await this.stopFollowing();
    return snapshot;
  }

  private get address() {
    return { shard: this.config.shard, replica: this.config.tabId };
  }

  private async followLeader(tab: string): Promise<void> {
    const role = this.currentRole;
    if (role.kind !== 'follower') return;
    const leader = { shard: this.config.shard, replica: tab };
    if (role.replica) {
      role.replica.setLeader(leader);
      return;
    }
    if (role.opening) return role.opening;
    role.opening = (async () => {
      const state = this.feed.observedState();
      role.state = state;
      const b3 = await loadBlake3();
      // No copy of the log: this tab's follower is never promoted (a new leader recovers from OPFS).
      role.replica = await FollowerDb.open({
        shard: this.config.shard,
        transport: new BroadcastChannelTransport(new BroadcastChannel(shardChannels(this.config.db, this.config.shard).log), {
          local: this.address,
          onDrop: this.onLogDrop,
        }),
        leader: { shard: this.config.shard, replica: this.heard.tab ?? tab },
        stateMachine: state,
        snapshots: { databaseId: databaseIdOf(b3, this.config.db), restore: (snapshot) => this.restoreFollower(role, snapshot) },
        clock: this.clock,
        onVersionSkew: this.onVersionSkew,
      });
      role.replicaId = crypto.randomUUID();
    })();
    try {
      await role.opening;
    } finally {
      role.opening = undefined;
    }
  }

  /**
   * A fresh state from a snapshot the leader shipped (verified whole), which
   * the follower applies to from now on; what it changed is reported to the
   * change feed as changes at the snapshot's LSN (the events between are
   * not in this tab's log).
   */
  private restoreFollower(role: Extract<ShardRole, { kind: 'follower' }>, snapshot: Snapshot): ObservedState {
    const state = this.feed.observedState();
    restoreShardSnapshot(state, snapshot.body, snapshot.lsn);
    role.state = state;
    if (this.feed.watching) for (const key of state.crdt.keys()) this.feed.changed(state, snapshot.lsn, key);
    return state;
  }

  private async stopFollowing(): Promise<void> {
    const role = this.currentRole;
    if (role.kind !== 'follower') return;
    await role.opening?.catch(() => undefined);
    const replica = role.replica;
    role.replica = undefined;
    await replica?.close();
  }

  private async openStorage(): Promise<WalStorage> {
    if (this.config.storage === 'memory') return (this.memory ??= new MemoryStorage());
    return OpfsStorage.open(databaseFolder(this.config.db));
  }
}
