/**
 * `TickBatcher`: a session writer's link to its shard worker. Writes
 * issued in the same tick (before the next microtask) travel together:
 * one message per shard per tick, one WAL batch on the leader; each write
 * settles with its own outcome. A frame the worker has not answered within
 * the timeout fails its writes with `Timeout` (the session writer resends
 * them).
 *
 * A tick that queues more than `FRAME_SEND_BYTES` of operations for a shard
 * sends them at once, and goes on filling the next frame: the worker starts
 * on the first part (decodes, commits, ships it to the followers) while the
 * main thread is still forming the rest, instead of all of it waiting for
 * the tick to end (`db.transact` calls issued back to back in one tick).
 *
 * The frames in flight share one timer, armed for the oldest: a timer and
 * a `Promise.race` per frame (`withTimeout`) cost 3.6 % of the peers
 * writer tab's main thread (setTimeout alone 14 ms of 389 ms busy,
 * tidal_batched, 04:21 UTC profile), for timeouts that almost never fire.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { TidalError, type TidalErrorCode } from '../common/errors.js';
import type { SessionLink } from '../session/session-writer.js';
import type { WriteRequest, WriteToken } from '../session/write.js';
import type { ShardSlot } from './shard-slot.js';
import type { WriteOutcome } from './tab-rpc.js';
import { encodeWriteFrame } from './write-frame.js';

interface Queued {
  readonly request: WriteRequest;
  resolve(token: WriteToken): void;
  reject(error: unknown): void;
}

/** A frame sent and not answered yet: its writes, and when it times out. */
interface InFlight {
  readonly batch: readonly Queued[];
  readonly deadline: number;
  readonly shard: number;
}

/**
 * Bytes of operations (their blocks) a frame holds before it is sent
 * without waiting for the tick to end. Measured (peers bench, tidal_batched,
 * 100 transactions issued in one tick): one frame per shard left the shard
 * workers idle while the main thread formed all of them, and the reader tab
 * idle until each shard's whole 270 KB batch was committed and shipped.
 */
export const FRAME_SEND_BYTES = 32 * 1024;

/** Sends a tick's writes for one shard in one message (or more, past `FRAME_SEND_BYTES`). */
export class TickBatcher implements SessionLink {
  private readonly slot: () => ShardSlot;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private queue: Queued[] = [];
  /** Bytes of the operations in `queue`. */
  private queuedBytes = 0;
  /** Frames in flight, oldest first (every frame has the same timeout, so deadlines ascend too). */
  private readonly inFlight = new Set<InFlight>();
  /** Armed for the oldest frame's deadline while any is in flight. */
  private timer: TimerHandle | undefined;

  constructor(slot: () => ShardSlot, timeoutMs: number, clock: Clock) {
    this.slot = slot;
    this.timeoutMs = timeoutMs;
    this.clock = clock;
  }

  write(request: WriteRequest): Promise<WriteToken> {
    return new Promise<WriteToken>((resolve, reject) => {
      const first = this.queue.push({ request, resolve, reject }) === 1;
      this.queuedBytes += request.block?.length ?? 0;
      if (this.queuedBytes >= FRAME_SEND_BYTES) this.flush();
      else if (first) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return; // sent already, its bytes past FRAME_SEND_BYTES
    this.queue = [];
    this.queuedBytes = 0;
    const slot = this.slot();
    // One frame per tick, its buffer transferred: no object graph for the structured clone to walk.
    const frame = encodeWriteFrame(
      slot.shard,
      batch.map((b) => b.request),
    );
    const sent: InFlight = { batch, deadline: this.clock.now() + this.timeoutMs, shard: slot.shard };
    this.inFlight.add(sent);
    this.arm();
    slot.writes.send(frame).then(
      (outcomes: WriteOutcome[]) => {
        if (!this.inFlight.delete(sent)) return; // timed out: its writes failed already
        batch.forEach((b, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) b.resolve(outcome.token);
          else b.reject(new TidalError((outcome?.code ?? 'StorageError') as TidalErrorCode, outcome?.message ?? 'no outcome'));
        });
      },
      (error: unknown) => {
        if (this.inFlight.delete(sent)) batch.forEach((b) => b.reject(error));
      },
    );
  }

  /** Arms the timer for the oldest frame in flight, unless it is armed or none is in flight. */
  private arm(): void {
    if (this.timer !== undefined) return;
    const oldest = this.inFlight.values().next();
    if (oldest.done === true) return;
    this.timer = this.clock.setTimeout(() => this.expire(), Math.max(0, oldest.value.deadline - this.clock.now()));
  }

  /** Fails the writes of every frame past its deadline, then arms for the next. */
  private expire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    for (const sent of this.inFlight) {
      if (sent.deadline > now) break;
      this.inFlight.delete(sent);
      const error = new TidalError('Timeout', `shard ${sent.shard} did not answer within ${this.timeoutMs} ms`);
      for (const b of sent.batch) b.reject(error);
    }
    this.arm();
  }
}
