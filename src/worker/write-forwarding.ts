/**
 * Write forwarding between tabs: a worker whose tab follows a shard sends
 * the tick's writes for it to the leader tab on the shard's RPC channel
 * (`tab-rpc.ts`) and waits, within `requestTimeoutMs`, for the leader's
 * outcomes; the leader tab's worker admits them like its own and answers.
 * A write that times out or meets no leader is resent by the session
 * writer on the main thread, unchanged, so it is still applied once.
 *
 *     const forwarding = new WriteForwarding({ shard, tabId, requestTimeoutMs, clock, post });
 *     const outcomes = await forwarding.forward(leaderTab, frame, count); // follower side
 *     forwarding.settle(resultMessage);                               // when the leader's answer arrives
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { RPC_VERSION, type RpcMessage, type WriteOutcome } from './tab-rpc.js';
import { checkWriteFrame } from './write-frame.js';

/** How a `WriteForwarding` is set up. */
export interface WriteForwardingOptions {
  readonly shard: ShardId;
  readonly tabId: string;
  /** How long the leader tab has to answer. */
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  /** Posts a message on the shard's RPC channel. */
  readonly post: (message: RpcMessage) => void;
}

interface Forwarded {
  /** The tab asked, and how many writes it was asked for: only its answer of that many outcomes settles them. */
  readonly leaderTab: string;
  readonly count: number;
  resolve(outcomes: readonly WriteOutcome[]): void;
  reject(error: unknown): void;
  timer: TimerHandle;
}

/** The follower side of forwarded writes: requests sent to the leader tab, waiting for its outcomes. */
export class WriteForwarding {
  private readonly options: WriteForwardingOptions;
  private readonly waiting = new Map<number, Forwarded>();
  /**
   * Request ids start at a random point, per worker: a restarted worker (same tab, same shard) must
   * not take a late or replayed answer to its predecessor's request for an answer to its own, which
   * would acknowledge writes that were never applied.
   */
  private nextId = randomStart();

  constructor(options: WriteForwardingOptions) {
    this.options = options;
  }

  /**
   * Sends the `count` writes of `frame` (checked with `checkWriteFrame`) to
   * `leaderTab`; their outcomes, `MalformedMessage` if the leader refused
   * the frame whole, or `Timeout` past `requestTimeoutMs`.
   */
  forward(leaderTab: string, frame: Uint8Array, count: number): Promise<WriteOutcome[]> {
    const { shard, tabId, requestTimeoutMs, clock } = this.options;
    const id = this.nextId++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.waiting.delete(id);
        reject(new TidalError('Timeout', `the leader tab of shard ${shard} did not answer within ${requestTimeoutMs} ms`));
      }, requestTimeoutMs);
      const settle = (outcomes: readonly WriteOutcome[]) => {
        if (outcomes.length === count) resolve([...outcomes]);
        else
          reject(
            new TidalError('MalformedMessage', `the leader tab of shard ${shard} answered ${outcomes.length} outcomes for ${count} writes`),
          );
      };
      this.waiting.set(id, { leaderTab, count, resolve: settle, reject, timer });
      // BroadcastChannel clones the frame (one copy per tab): it cannot transfer.
      this.options.post({ v: RPC_VERSION, t: 'write', shard, from: tabId, to: leaderTab, id, frame });
    });
  }

  /** Hands the leader's answer to the writes it is for (an answer for another tab, or a late one, is ignored). */
  settle(message: Extract<RpcMessage, { t: 'result' }>): void {
    if (message.to !== this.options.tabId) return;
    const forwarded = this.waiting.get(message.id);
    if (!forwarded || message.from !== forwarded.leaderTab) return;
    this.waiting.delete(message.id);
    this.options.clock.clearTimeout(forwarded.timer);
    forwarded.resolve(message.outcomes);
  }

  /** Fails every write still waiting with `Closed` (the session writer resends them elsewhere). */
  close(): void {
    for (const forwarded of this.waiting.values()) {
      this.options.clock.clearTimeout(forwarded.timer);
      forwarded.reject(new TidalError('Closed', 'the shard host closed'));
    }
    this.waiting.clear();
  }
}

/**
 * The leader side: the answer to a forwarded `message`, with the outcomes
 * `admit` gives for its frame (or `Closed` for each write when this tab
 * does not lead). A frame refused whole (its header or framing is wrong:
 * `admit` throws) is answered with no outcomes, which the forwarding tab
 * takes as `MalformedMessage`.
 */
export async function serveForwarded(
  message: Extract<RpcMessage, { t: 'write' }>,
  tabId: string,
  admit: ((frame: Uint8Array) => Promise<WriteOutcome[]>) | undefined,
): Promise<Extract<RpcMessage, { t: 'result' }>> {
  let outcomes: WriteOutcome[];
  try {
    outcomes = admit
      ? await admit(message.frame) // each write of the frame is checked on its own (decodeWriteFrame)
      : Array.from({ length: checkWriteFrame(message.frame, message.shard) }, () => ({
          ok: false as const,
          code: 'Closed',
          message: `tab ${tabId} does not lead shard ${message.shard}`,
        }));
  } catch {
    outcomes = [];
  }
  return { v: RPC_VERSION, t: 'result', shard: message.shard, from: tabId, to: message.from, id: message.id, outcomes };
}

/** A random request id to count up from: below 2^52, so that ids stay safe integers for as long as a worker lives. */
function randomStart(): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high! % 0x100000) * 0x100000000 + low!;
}
