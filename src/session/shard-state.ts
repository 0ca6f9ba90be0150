/**
 * `ShardState`: what a shard's log builds, on its leader and on every
 * follower alike: the CRDT signal state, and the idempotency store that
 * guards it. It is the `StateMachine` replication applies events to, so a
 * replica that applied the same log holds the same state, the same session
 * high-water marks and the same idempotency keys.
 */
import { CrdtSignalState } from '../crdt/signal-state.js';
import type { PreparedEvent, StateMachine } from '../replication/state-machine.js';
import { decodePayload, type Value } from '../wal/payload.js';
import { IdempotencyStore, type IdempotencyStoreOptions } from './idempotency-store.js';
import { readLogEvents } from './log-event-read.js';
import { asLogEvent, assertLogEventVersion, STATE_IMPORT, type LogEvent } from './write.js';

/** A shard's state: CRDTs plus the session bridge's memory, built from its log. */
export class ShardState implements StateMachine {
  /** The CRDT state (replaced only when a snapshot is restored, before the state is in use: see shard-snapshot.ts). */
  crdt = new CrdtSignalState();
  /** The session bridge's memory: per-session high-water marks, recent results, idempotency keys. */
  readonly idempotency: IdempotencyStore;
  /** The last LSN applied. */
  appliedLsn = 0;
  /** Operations the CRDT state refused (the write was logged; the refusal is deterministic on every replica). */
  refusedOps = 0;
  /** Per other device of the user: how far its log of this shard is merged here (its LSN), from the log's import events. */
  readonly syncCursors = new Map<string, number>();
  /** LSN of the last write of this device (not an import); what device sync uploads ends there. */
  lastLocalLsn = 0;

  /** An empty state (LSN 0) with an idempotency store bounded by `options`. */
  constructor(options: IdempotencyStoreOptions = {}) {
    this.idempotency = new IdempotencyStore(options);
  }

  /** Applies the log event at `lsn`: records the write in the idempotency store and its operations in the CRDTs. */
  apply(lsn: number, event: Value): void {
    this.applyEvent(lsn, asLogEvent(event));
  }

  /** Reads and checks the log event (`asLogEvent`), throwing before anything is applied; what it returns applies it. */
  prepare(event: Value): PreparedEvent {
    const write = asLogEvent(event);
    return (lsn) => this.applyEvent(lsn, write);
  }

  /**
   * Reads a verified batch's events straight from its payload (`readLogEvents`: a write of the form
   * the leader logs is read field by field, with no `Value` object in between) and returns what
   * applies each. If an event is refused, the batch is read again the general way (`checkVersion` on
   * every event, then `prepare` on each), so that the refusal is the one a follower has always given:
   * a newer format anywhere in the batch is version skew, not damage.
   */
  prepareBatch(payload: Uint8Array, eventCount: number): PreparedEvent[] {
    const { events, refused } = readLogEvents(payload, eventCount);
    if (refused !== undefined) {
      const decoded = decodePayload(payload, eventCount);
      for (const event of decoded) this.checkVersion(event);
      return decoded.map((event) => this.prepare(event));
    }
    const prepared: PreparedEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const write = events[i]!;
      prepared[i] = (lsn) => this.applyEvent(lsn, write);
    }
    return prepared;
  }

  /** Throws `UnsupportedVersion` for an event of a newer format than this build reads (`assertLogEventVersion`). */
  checkVersion(event: Value): void {
    assertLogEventVersion(event);
  }

  /** Applies an event already read and checked (`asLogEvent`), or one its leader built from checked requests. */
  applyEvent(lsn: number, write: LogEvent): void {
    if (write.t === STATE_IMPORT) {
      this.advanceCursor(write.device, write.upTo);
      // The decoded state's entities are taken over, not copied: the event is applied once.
      const changed = this.crdt.mergeDecoded(Array.from(write.state.entityEntries(), ([key, entity]) => ({ key, entity })));
      this.appliedLsn = lsn;
      this.appliedWrite(lsn, write, changed);
      return;
    }
    if (write.t === 'import') {
      // Merged from another device: no session of this one to remember, a cursor to advance.
      this.advanceCursor(write.device, write.upTo);
    } else {
      this.idempotency.record(lsn, write);
      this.lastLocalLsn = lsn;
    }
    const merged = write.t === 'import';
    for (const op of write.ops) {
      try {
        this.crdt.applyValidated(op, merged); // asLogEvent, or the leader's admission, checked every operation
      } catch {
        this.refusedOps++;
      }
    }
    this.appliedLsn = lsn;
    this.appliedWrite(lsn, write, undefined);
  }

  private advanceCursor(device: string, upTo: number): void {
    if (upTo > (this.syncCursors.get(device) ?? 0)) this.syncCursors.set(device, upTo);
  }

  /**
   * Called after each event is applied, with the event as decoded (observers: the logged form may be compact);
   * for a state import, with the keys of the entities it changed (`changed`, undefined for any other event).
   */
  protected appliedWrite(_lsn: number, _event: LogEvent, _changed: readonly string[] | undefined): void {}
}
