/**
 * @internal What the two halves of a `ReconciliationEngine`, the initiator
 * (`reconciliation-initiator.ts`) and the responder
 * (`reconciliation-responder.ts`), share of their engine: the state, its
 * digest cache, the clock, the message bound, the counters, and the
 * engine's sending and refusing.
 */
import type { TidalErrorCode } from '../common/errors.js';
import type { Clock } from '../common/clock.js';
import type { EntityDigestCache } from './digest-index.js';
import type { CrdtSignalState } from './signal-state.js';

/** @internal The engine as its initiator and responder see it. */
export interface ReconciliationContext {
  readonly state: CrdtSignalState;
  readonly cache: EntityDigestCache;
  readonly clock: Clock;
  /** This engine's `maxMessageBytes`. */
  readonly maxMessageBytes: number;
  readonly counters: MutableStats;
  /** Sends one message to the peer (counted; a channel that throws counts as a lost message). */
  transmit(bytes: Uint8Array): void;
  /** Counts (and reports) a refused message or merge. */
  refuse(error: unknown): void;
  /** The current record of `key` (a fresh copy: it is handed to the channel). */
  entityRecord(key: string): Uint8Array;
}

/** @internal The engine's counters, as its halves update them. */
export interface MutableStats {
  messagesSent: number;
  bytesSent: number;
  sendFailures: number;
  messagesReceived: number;
  bytesReceived: number;
  rejected: number;
  rejectedByCode: Partial<Record<TidalErrorCode, number>>;
  duplicates: number;
  retransmissions: number;
  sessionsInitiated: number;
  sessionsServed: number;
  sessionsExpired: number;
}

/** @internal A digest as a map key. */
export function digestKey(lo: number, hi: number): string {
  return `${lo}:${hi}`;
}
