/**
 * `TickBatcher`: a session writer's link to its shard worker. Writes
 * issued in the same tick (before the next microtask) travel together:
 * one message per shard per tick, one WAL batch on the leader; each write
 * settles with its own outcome.
 */
import * as Comlink from 'comlink';
import { withTimeout, type Clock } from '../common/clock.js';
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

/** Sends a tick's writes for one shard in one message. */
export class TickBatcher implements SessionLink {
  private readonly slot: () => ShardSlot;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private queue: Queued[] = [];

  constructor(slot: () => ShardSlot, timeoutMs: number, clock: Clock) {
    this.slot = slot;
    this.timeoutMs = timeoutMs;
    this.clock = clock;
  }

  write(request: WriteRequest): Promise<WriteToken> {
    return new Promise<WriteToken>((resolve, reject) => {
      if (this.queue.push({ request, resolve, reject }) === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const slot = this.slot();
    // One frame per tick, its buffer transferred: no object graph for the structured clone to walk.
    const frame = encodeWriteFrame(
      slot.shard,
      batch.map((b) => b.request),
    );
    withTimeout(this.clock, slot.host.write(Comlink.transfer(frame, [frame.buffer])), this.timeoutMs, `shard ${slot.shard}`).then(
      (outcomes: WriteOutcome[]) => {
        batch.forEach((b, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) b.resolve(outcome.token);
          else b.reject(new TidalError((outcome?.code ?? 'StorageError') as TidalErrorCode, outcome?.message ?? 'no outcome'));
        });
      },
      (error: unknown) => batch.forEach((b) => b.reject(error)),
    );
  }
}
