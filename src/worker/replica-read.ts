/**
 * Reads that outlive the replica they started on. A worker's replica of its
 * shard is replaced when its role changes: a follower's `FollowerDb` is
 * closed when the tab takes the lead (or follows a new leader tab afresh),
 * a leader's state goes when it steps down. A read waiting on the old
 * replica (for its token, or for a fresh follower to catch up) is then
 * refused with `Closed`; the user asked the shard, not that replica, so the
 * read moves to the worker's next replica and waits there, within the bound
 * it was given.
 *
 *     const replica = await whenReadable({ current, closed, clock, after, timeoutMs });
 *     return read(replica); // synchronously: the replica is current now
 */
import { sleep, type Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { waitForToken, type ReadableReplica } from '../session/read.js';
import type { WriteToken } from '../session/write.js';

/** A replica reads can be answered from; a fresh follower also says when it caught up with its leader. */
export interface ReadReplica extends ReadableReplica {
  whenCaughtUp?(timeoutMs: number): Promise<void>;
}

/** What `whenReadable` waits on. */
export interface ReadableOptions<R extends ReadReplica> {
  /** The worker's replica now (`undefined` while it is between roles). */
  readonly current: () => R | undefined;
  /** Why the worker answers no reads at all any more (closed, stepped aside), if it does not. */
  readonly refusal: () => TidalError | undefined;
  readonly clock: Clock;
  /** The LSN the read must see (the caller's token, or what its session saw). */
  readonly after: WriteToken | undefined;
  readonly timeoutMs: number;
  /** What the error messages call the shard. Default `shard <n>`. */
  readonly describe?: string;
  /** How often to look again for a replica. Default 10 ms. */
  readonly pollMs?: number;
}

/**
 * Resolves with the current replica once it has caught up with its leader
 * (a fresh follower) and applied `after`. A replica closed meanwhile is left
 * for the next one; `Timeout` when none got there within `timeoutMs`.
 */
export async function whenReadable<R extends ReadReplica>(options: ReadableOptions<R>): Promise<R> {
  const { current, refusal, clock, after, timeoutMs } = options;
  const describe = options.describe ?? (after ? `shard ${after.shard}` : 'the shard');
  const pollMs = options.pollMs ?? 10;
  const deadline = clock.now() + timeoutMs;
  const left = () => Math.max(1, deadline - clock.now());
  let replaced = 0;
  for (;;) {
    const refused = refusal();
    if (refused) throw refused;
    const replica = current();
    if (replica) {
      try {
        await replica.whenCaughtUp?.(left());
        await waitForToken(replica, after, left());
        if (current() === replica) return replica;
      } catch (error) {
        // Only a replica that went away is left behind; a timeout, a bad token, a newer tidal stand.
        if (!isTidalError(error, 'Closed')) throw error;
        const closedBy = refusal();
        if (closedBy) throw closedBy;
        replaced++;
      }
    }
    if (clock.now() >= deadline) {
      const lsn = after ? ` at LSN ${after.lsn}` : '';
      const why = replaced > 0 ? ` (${replaced} replica(s) replaced meanwhile)` : ' (no replica in this tab yet)';
      throw new TidalError('Timeout', `${describe} had no replica readable${lsn} within ${timeoutMs} ms${why}`);
    }
    await sleep(clock, Math.min(pollMs, left()));
  }
}
