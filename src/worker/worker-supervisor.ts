/**
 * `WorkerSupervisor`: starts each shard's worker, gives it its role, and
 * replaces it when it dies (an `error` event) or stops answering (a status
 * check every 500 ms, with a 2 s bound; 15 s while it takes the lead, whose
 * recovery runs steps that cannot yield): the new worker recovers the shard
 * (from OPFS when this tab leads it) and the session writer resends what
 * was not acknowledged. The same check notices a leader tab that went
 * silent for `leaderTimeoutMs` and asks the lock to take its lead.
 */
import * as Comlink from 'comlink';
import { withTimeout, type Clock } from '../common/clock.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Change } from './api.js';
import { shardChannels } from './channels.js';
import type { LeaderLock } from './leader-lock.js';
import type { ResolvedOptions } from './open-options.js';
import type { ShardHostConfig, ShardHostStatus } from './shard-host-config.js';
import type { ShardHostApi } from './shard-host.worker.js';
import { CONTROL_TIMEOUT_MS, type ShardSlot } from './shard-slot.js';
import { WritePort } from './write-port.js';

/** How often each worker's status is checked. */
export const PING_EVERY_MS = 500;
/** A worker that has not answered a status check within this is replaced. */
export const PING_TIMEOUT_MS = 2000;

/** How a `WorkerSupervisor` is set up. */
export interface WorkerSupervisorOptions {
  readonly options: ResolvedOptions;
  readonly tabId: string;
  readonly slots: readonly ShardSlot[];
  readonly clock: Clock;
  readonly lock: LeaderLock;
  /** Hands a worker's change report to the subscriptions. */
  readonly dispatch: (changes: Change[]) => void;
  /** The prefixes subscribed to now. */
  readonly watchedPrefixes: () => string[];
  readonly closed: () => boolean;
  /** A worker met a newer tidal and stepped aside (`ShardHostStatus.superseded`): the whole tab must. */
  readonly superseded: (skew: NonNullable<ShardHostStatus['superseded']>) => void;
}

/** Keeps one live, answering worker per shard. */
export class WorkerSupervisor {
  private readonly setup: WorkerSupervisorOptions;
  private stopChecking: (() => void) | undefined;

  constructor(setup: WorkerSupervisorOptions) {
    this.setup = setup;
  }

  /** Starts the status checks. */
  start(): void {
    this.stopChecking ??= this.setup.clock.every(PING_EVERY_MS, () => this.check());
  }

  /** Stops the status checks. */
  stop(): void {
    this.stopChecking?.();
    this.stopChecking = undefined;
  }

  /** Starts the slot's worker and gives it its role. */
  async spawn(slot: ShardSlot): Promise<void> {
    const { clock, lock } = this.setup;
    const worker = this.createWorker(slot.shard);
    worker.addEventListener('error', () => void this.restart(slot, worker));
    slot.worker = worker;
    slot.host = Comlink.wrap<ShardHostApi>(worker);
    // The write frames' own channel: a replaced worker's port is closed, its frames time out and are resent.
    const writes = new MessageChannel();
    slot.writes?.close();
    slot.writes = new WritePort(writes.port1, slot.shard);
    // Every step bounded: a worker that dies mid-spawn (killed, crashed) answers nothing, and an unbounded
    // wait would leave the slot restarting for good, never checked or replaced again (soak seed 947).
    const what = `shard ${slot.shard} worker`;
    // Sent together, not one round trip each: the worker handles them in order (each one synchronous
    // there), and the first to fail (init) is the one reported.
    await withTimeout(
      clock,
      Promise.all([
        slot.host.init(this.config(slot.shard)),
        slot.host.onChanges(Comlink.proxy((changes: Change[]) => this.setup.dispatch(changes))),
        slot.host.watch(this.setup.watchedPrefixes()),
        slot.host.serveWrites(Comlink.transfer(writes.port2, [writes.port2])),
      ]),
      CONTROL_TIMEOUT_MS,
      what,
    );
    if (slot.lockHeld) await lock.lead(slot);
    else await withTimeout(clock, slot.host.becomeFollower(), CONTROL_TIMEOUT_MS, what);
  }

  /** Replaces a dead or hung worker: a new one recovers the shard (from OPFS when it leads) and writers resend. */
  restart(slot: ShardSlot, dead: Worker): Promise<void> {
    if (this.setup.closed() || slot.worker !== dead) return Promise.resolve();
    const { slots, lock } = this.setup;
    slot.restarting ??= (async () => {
      dead.terminate();
      slot.restarts++;
      try {
        await this.spawn(slot);
        // The previous shard's in-tab follower lived in the dead worker: wire it again.
        const previous = slots[(slot.shard - 1 + slots.length) % slots.length];
        if (previous && previous !== slot && previous.lockHeld) await lock.wireInTabFollower(previous).catch(() => undefined);
        slot.writer.resend();
      } catch (error) {
        console.error(`tidal: restarting shard ${slot.shard} failed; will retry`, error);
      } finally {
        slot.restarting = undefined;
      }
    })();
    return slot.restarting;
  }

  private createWorker(shard: ShardId): Worker {
    const { options } = this.setup;
    if (options.createWorker) return options.createWorker(shard);
    // Vite (and any bundler that follows `new URL(..., import.meta.url)`) builds the worker from this line.
    return new Worker(new URL('./shard-host.worker.js', import.meta.url), {
      type: 'module',
      name: shardChannels(options.name, shard).lock,
    });
  }

  private config(shard: ShardId): ShardHostConfig {
    const { options, tabId } = this.setup;
    return {
      db: options.name,
      shard,
      shards: options.shards,
      tabId,
      storage: options.storage,
      durability: options.durability,
      requestTimeoutMs: options.requestTimeoutMs,
      debug: options.debug,
      sync: options.sync,
    };
  }

  private check(): void {
    const { slots, clock, lock, options, closed } = this.setup;
    for (const slot of slots) {
      if (slot.restarting || closed()) continue;
      const worker = slot.worker;
      // A worker recovering the shard may be in a step that cannot yield: replaced only past the control timeout.
      const opening = slot.openingUntil !== undefined && clock.now() < slot.openingUntil;
      withTimeout(clock, slot.host.status(), opening ? CONTROL_TIMEOUT_MS : PING_TIMEOUT_MS, `shard ${slot.shard} worker`).then(
        (status: ShardHostStatus) => {
          if (status.superseded) return this.setup.superseded(status.superseded);
          // A leader tab that stopped answering loses the lead after leaderTimeoutMs.
          if (!slot.lockHeld && !slot.stealing && status.role !== 'leader' && status.leaderSilentMs > options.leaderTimeoutMs) {
            slot.stealing = true;
            lock.request(slot, true);
          }
        },
        () => void this.restart(slot, worker),
      );
    }
  }
}
