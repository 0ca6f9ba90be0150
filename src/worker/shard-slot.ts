/**
 * One shard as a tab runs it (`ShardSlot`): its worker and the comlink
 * proxy to it, its session writer, and what the tab holds of the shard's
 * Web Lock. The supervisor (`worker-supervisor.ts`) replaces its worker,
 * the leader lock (`leader-lock.ts`) sets what it holds.
 */
import type * as Comlink from 'comlink';
import { withTimeout, type Clock } from '../common/clock.js';
import type { ShardId } from '../shard/shard-id.js';
import type { SessionWriter } from '../session/session-writer.js';
import type { ShardHostApi } from './shard-host.worker.js';
import type { WritePort } from './write-port.js';

/** How long a control call to a worker (role, wiring) may take. */
export const CONTROL_TIMEOUT_MS = 15_000;

/** One shard as this tab runs it. */
export interface ShardSlot {
  readonly shard: ShardId;
  worker: Worker;
  host: Comlink.Remote<ShardHostApi>;
  /** The worker's write port: the tick's write frames go to it, not through comlink (write-port.ts). */
  writes: WritePort;
  readonly writer: SessionWriter;
  /** This tab holds the shard's Web Lock. */
  lockHeld: boolean;
  /** Resolving it releases the lock. */
  releaseLock: (() => void) | undefined;
  restarts: number;
  /** The term this tab was granted the lock in (see `LeaderLock`). */
  term: number;
  restarting: Promise<void> | undefined;
  /** Taking the lock: asking to steal it from a silent leader tab, or granted it and counting its term. */
  stealing: boolean;
  /**
   * While the worker takes the lead (set by `LeaderLock.lead`): until when
   * (clock ms) the supervisor lets it go unanswering up to
   * `CONTROL_TIMEOUT_MS` instead of `PING_TIMEOUT_MS`. Recovering a shard
   * runs steps that cannot yield (verifying a segment, decoding a snapshot),
   * which on a loaded machine outlast a ping.
   */
  openingUntil?: number;
}

/**
 * Wires the in-tab follower of `slot`'s shard (led in this tab): the next
 * shard's worker hosts it, and `slot`'s worker ships to it over a fresh
 * `MessageChannel`. A no-op with one shard, or when the lock is not held.
 */
export async function wireInTabFollower(
  slots: readonly ShardSlot[],
  slot: ShardSlot,
  tabId: string,
  clock: Clock,
  transfer: <T>(value: T, transferables: Transferable[]) => T,
): Promise<void> {
  if (slots.length < 2 || !slot.lockHeld) return;
  const host = slots[(slot.shard + 1) % slots.length];
  if (!host?.host) return;
  const channel = new MessageChannel();
  const replica = `${tabId}-w${host.shard}`;
  await withTimeout(
    clock,
    host.host.hostInTabFollower(slot.shard, transfer(channel.port2, [channel.port2]), replica),
    CONTROL_TIMEOUT_MS,
    `shard ${host.shard} worker`,
  );
  await withTimeout(
    clock,
    slot.host.shipToInTabFollower(transfer(channel.port1, [channel.port1]), replica),
    CONTROL_TIMEOUT_MS,
    `shard ${slot.shard} worker`,
  );
}
