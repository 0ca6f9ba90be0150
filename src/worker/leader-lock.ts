/**
 * `LeaderLock`: leadership of each shard across the origin's tabs, with
 * Web Locks. The tab holding a shard's lock (`shardChannels(db, k).lock`)
 * leads it; every tab queues for every lock, so when a leader tab closes
 * or crashes, the next in line takes over. A tab may also take (`steal`)
 * the lock from a leader tab that went silent (the supervisor decides).
 *
 * Each grant of a lock gets a **term**, one more than any before it, so
 * that a tab whose lock was taken while it hung can never win over the tab
 * that took it: leaders compare terms (see `leadership.ts`). The count is
 * kept in OPFS and bumped under the lock (`lock-terms.ts`).
 */
import { sleep, withTimeout, type Clock } from '../common/clock.js';
import { shardChannels } from './channels.js';
import { takeLockTerm, type LockTermOptions } from './lock-terms.js';
import { CONTROL_TIMEOUT_MS, wireInTabFollower, type ShardSlot } from './shard-slot.js';

/** How a `LeaderLock` is set up. */
export interface LeaderLockOptions {
  readonly db: string;
  readonly tabId: string;
  readonly slots: readonly ShardSlot[];
  readonly clock: Clock;
  /** Aborts the queued lock requests (on close). */
  readonly signal: AbortSignal;
  readonly closed: () => boolean;
  readonly transfer: <T>(value: T, transferables: Transferable[]) => T;
  /** Counts a grant's term. Default `takeLockTerm`; a test holds it to steal the lock meanwhile. */
  readonly takeTerm?: (options: LockTermOptions) => Promise<number>;
  /** Told as soon as this tab's worker leads `slot`'s shard (it is readable here). */
  readonly onLed?: (slot: ShardSlot) => void;
  /**
   * In-tab followers are wired once it resolves (the database's open is
   * done): shipping a shard's snapshot and log to the next shard's worker,
   * and verifying them there, would otherwise take CPU from the shards
   * still opening (and from the first requests once open: the database
   * resolves it a moment after). Default: wired at once.
   */
  readonly opened?: Promise<void>;
}

/** Holds, queues for and takes this tab's shard locks, and gives the lead to the shard workers. */
export class LeaderLock {
  private readonly options: LeaderLockOptions;

  constructor(options: LeaderLockOptions) {
    this.options = options;
  }

  /**
   * Queues for the shard's Web Lock (or takes it from a silent holder); leads while it is held.
   * `workerUp`: the slot's worker is still starting (the database's open), and a grant takes its term
   * meanwhile but leads only once it is up; a worker that failed to start gives the lock back.
   */
  request(slot: ShardSlot, steal: boolean, workerUp?: Promise<void>): void {
    const { db, clock, signal, closed } = this.options;
    const takeTerm = this.options.takeTerm ?? takeLockTerm;
    const names = shardChannels(db, slot.shard);
    const options: LockOptions = steal ? { steal: true } : { signal };
    // Where this request is: granted, it takes its term (an await: OPFS) before the tab holds the lock.
    let grant: 'waiting' | 'taking' | 'held' | 'lost' = 'waiting';
    navigator.locks
      .request(names.lock, options, async () => {
        if (closed()) return;
        grant = 'taking';
        slot.stealing = true; // taking the lock already: the supervisor must not steal it meanwhile
        const term = await takeTerm({ db, shard: slot.shard, legacyKey: names.term, clock });
        const up = await (workerUp ?? Promise.resolve()).then(
          () => true,
          () => false,
        );
        if (!up) {
          grant = 'lost'; // nothing to lead with: the open fails (the database's start rejects)
          slot.stealing = false;
          return;
        }
        // Taken by another tab while the term was counted: not held, and queued again below.
        if (grant !== 'taking' || closed()) return;
        grant = 'held';
        slot.term = term;
        slot.lockHeld = true;
        slot.stealing = false;
        // A close does not wait for the lead to return: it terminates the worker, whose `becomeLeader`
        // then never answers, and the lock would be held for that call's 15 s timeout (the next database
        // of this name, in this tab or another, then waited out leaderTimeoutMs to steal it: a reopen in
        // the open bench took 3.6 s instead of 0.6 s, with the 15 s timeouts logged after).
        const leading = this.lead(slot).catch((error) => console.error(`tidal: shard ${slot.shard} could not take the lead`, error));
        await Promise.race([leading, untilAborted(signal)]);
        // Closed while it led (its recovery, or the wait for the in-tab follower): the close let go of no
        // lock then (`releaseLock` was not set yet), and the lock would be held until another tab stole it.
        if (closed()) return;
        await new Promise<void>((resolve) => (slot.releaseLock = resolve));
      })
      .catch(async (error: unknown) => {
        // Stolen by another tab (AbortError), or our own close.
        const was = grant;
        grant = 'lost';
        if (was === 'held') {
          slot.lockHeld = false;
          slot.releaseLock = undefined;
        }
        if (was === 'taking') slot.stealing = false;
        if (closed()) return;
        if (was === 'held') {
          await withTimeout(clock, slot.host.becomeFollower(), CONTROL_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
          this.request(slot, false);
        } else if (was === 'taking') {
          this.request(slot, false); // it never led: it queues again
        } else if ((error as { name?: string }).name !== 'AbortError') {
          console.error(`tidal: lock request for shard ${slot.shard} failed`, error);
        }
      });
  }

  /**
   * Makes this tab's worker the shard's leader and wires its in-tab
   * follower. While the lock is held it keeps trying: a leader whose lock
   * was taken from it may hold the log's OPFS handles a while longer, until
   * it notices and steps down.
   */
  async lead(slot: ShardSlot): Promise<void> {
    const { clock } = this.options;
    // The recovery's long steps (a snapshot decoded, a segment verified) must not get the worker replaced as hung.
    slot.openingUntil = clock.now() + CONTROL_TIMEOUT_MS;
    try {
      await this.tryToLead(slot);
    } finally {
      slot.openingUntil = undefined;
    }
  }

  private async tryToLead(slot: ShardSlot): Promise<void> {
    const { clock, closed } = this.options;
    for (let attempt = 1; slot.lockHeld && !closed(); attempt++) {
      try {
        await withTimeout(clock, slot.host.becomeLeader(slot.term), CONTROL_TIMEOUT_MS, `shard ${slot.shard} worker`);
        // Recovered: from here a worker that stops answering is hung again (the wait for the database's
        // open and the in-tab follower's wiring below must not lend it recovery's 15 s of grace).
        slot.openingUntil = undefined;
        this.options.onLed?.(slot);
        await this.options.opened;
        if (closed()) return;
        await this.wireInTabFollower(slot);
        slot.writer.resend();
        return;
      } catch (error) {
        if (attempt % 10 === 1) console.warn(`tidal: shard ${slot.shard} cannot take the lead yet (attempt ${attempt}); retrying`, error);
        await sleep(clock, Math.min(2000, 100 * attempt));
      }
    }
  }

  /** Wires the in-tab follower of `slot`'s shard, when this tab leads it. */
  wireInTabFollower(slot: ShardSlot): Promise<void> {
    const { slots, tabId, clock, transfer } = this.options;
    return wireInTabFollower(slots, slot, tabId, clock, transfer);
  }
}

/** Resolves once `signal` is aborted (the database's close). */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
