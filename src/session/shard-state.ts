/**
 * `ShardState`: what a shard's log builds, on its leader and on every
 * follower alike: the CRDT signal state, and the idempotency store that
 * guards it. It is the `StateMachine` replication applies events to, so a
 * replica that applied the same log holds the same state, the same session
 * high-water marks and the same idempotency keys.
 */
import { CrdtSignalState } from '../crdt/signal-state.js';
import type { StateMachine } from '../replication/state-machine.js';
import type { Value } from '../wal/payload.js';
import { IdempotencyStore, type IdempotencyStoreOptions } from './idempotency-store.js';
import { asWriteEvent } from './write.js';

/** A shard's state: CRDTs plus the session bridge's memory, built from its log. */
export class ShardState implements StateMachine {
  readonly crdt = new CrdtSignalState();
  readonly idempotency: IdempotencyStore;
  /** The last LSN applied. */
  appliedLsn = 0;
  /** Operations the CRDT state refused (the write was logged; the refusal is deterministic on every replica). */
  refusedOps = 0;

  constructor(options: IdempotencyStoreOptions = {}) {
    this.idempotency = new IdempotencyStore(options);
  }

  apply(lsn: number, event: Value): void {
    const write = asWriteEvent(event);
    this.idempotency.record(lsn, write);
    for (const op of write.ops) {
      try {
        this.crdt.apply(op);
      } catch {
        this.refusedOps++;
      }
    }
    this.appliedLsn = lsn;
  }
}
