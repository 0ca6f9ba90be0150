/**
 * What a replica applies its log to. Replication delivers each event once,
 * in LSN order; the state machine turns events into state. The CRDT signal
 * state plugs in here; `EventLog`, the simplest state machine (the ordered
 * events themselves), is what the replication tests compare.
 */
import { Encoder } from '../common/bytes.js';
import { encodeValue, type Value } from '../wal/payload.js';

/** Receives a replica's events, each exactly once, in LSN order. */
export interface StateMachine {
  /** Applies the event at `lsn`; called once per LSN, in order, after the bytes are verified. */
  apply(lsn: number, event: Value): void;
  /**
   * Throws `UnsupportedVersion` when `event` (verified, not yet stored) is of a format this machine
   * does not read. A follower calls it on every event of a payload before it stores or applies any
   * of it, so that a newer tidal's log is met as version skew with nothing of it kept, not halfway
   * through applying it. Optional: without it, an unknown format is found at `apply`.
   */
  checkVersion?(event: Value): void;
  /**
   * Reads and checks `event` (verified, not yet stored) whole, and returns
   * what applies it at its LSN. A follower prepares every event of a
   * payload before it stores or applies any of it, so that an event that
   * does not read (a `TidalError`) refuses its payload whole and nothing of
   * it is applied; the returned function is then called in place of
   * `apply`, once, in LSN order. Optional: without it, `apply` reads each
   * event as it applies it.
   */
  prepare?(event: Value): PreparedEvent;
  /**
   * Reads and checks every event of a verified batch's payload (`eventCount`
   * events, not yet stored) straight from its bytes, and returns what
   * applies each one: what `decodePayload` then `checkVersion` and `prepare`
   * on each event would give, with the same refusals, without the generic
   * `Value` of each event in between. Optional: without it, a follower
   * decodes the payload and prepares event by event.
   */
  prepareBatch?(payload: Uint8Array, eventCount: number): PreparedEvent[];
}

/** An event read and checked by `StateMachine.prepare`: applies it at `lsn`. */
export type PreparedEvent = (lsn: number) => void;

/** The ordered events themselves, with a canonical encoding to compare replicas byte for byte. */
export class EventLog implements StateMachine {
  /** Every event applied, in LSN order. */
  readonly entries: {
    /** The event's LSN. */
    lsn: number;
    /** The event as applied. */
    event: Value;
  }[] = [];

  /** Appends the event to `entries`. */
  apply(lsn: number, event: Value): void {
    this.entries.push({ lsn, event });
  }

  /** LSN and event of every entry, in order (LEB128 LSN, then the event's payload encoding). */
  encode(): Uint8Array {
    const enc = new Encoder(1024);
    enc.writeVarUint(this.entries.length);
    for (const { lsn, event } of this.entries) {
      enc.writeVarUint(lsn);
      encodeValue(enc, event);
    }
    return enc.toBytes();
  }
}
