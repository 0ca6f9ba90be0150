/**
 * A shipper's cursor per follower: the next LSN to send, the highest LSN
 * the follower acknowledged, and what is in flight between them (bounded
 * by the shipper's `maxInFlightBytes`). An acknowledgement moves the
 * acknowledged LSN on and frees what it covers; a request or a timeout
 * rewinds the cursor to resend.
 *
 *     const cursor = newCursor(follower, fromLsn, now, admitted);
 *     sent(cursor, payload.lastLsn, payload.size, 0, now);
 *     acknowledged(cursor, appliedLsn, now);
 */
import type { PeerAddress } from '../transport/address.js';
import type { FollowerCursor } from './wal-shipper-options.js';

/** One send awaiting its acknowledgement. */
export interface InFlight {
  readonly lastLsn: number;
  readonly bytes: number;
  /** Extra wait for its acknowledgement beyond `resendTimeoutMs` (a snapshot's install time). */
  readonly patienceMs: number;
}

/** What a shipper holds per follower. */
export interface Cursor {
  readonly follower: PeerAddress;
  nextLsn: number;
  ackedLsn: number;
  inFlight: InFlight[];
  inFlightBytes: number;
  lastProgressAt: number;
  payloadsSent: number;
  bytesSent: number;
  resends: number;
  snapshotsSent: number;
  /** Added because it introduced itself (see `admit`); such a follower is dropped once it stops answering. */
  readonly admitted: boolean;
  /** Timeout resends since the follower last acknowledged or asked for anything. */
  unansweredResends: number;
  /** A status heartbeat went to the follower (its first tells a fresh follower where the log ends: `whenCaughtUp`). */
  statusSent: boolean;
  /** A payload went to the follower since the last heartbeat tick: it heard from the leader, no status is due. */
  sentSinceTick: boolean;
  /** A pump is running (it may await storage); another waits for it. */
  pumping: boolean;
  pumpAgain: boolean;
}

/** A cursor that ships `follower` everything from `fromLsn`. */
export function newCursor(follower: PeerAddress, fromLsn: number, now: number, admitted: boolean): Cursor {
  return {
    follower,
    nextLsn: fromLsn,
    ackedLsn: fromLsn - 1,
    inFlight: [],
    inFlightBytes: 0,
    lastProgressAt: now,
    payloadsSent: 0,
    bytesSent: 0,
    resends: 0,
    snapshotsSent: 0,
    admitted,
    unansweredResends: 0,
    statusSent: false,
    sentSinceTick: false,
    pumping: false,
    pumpAgain: false,
  };
}

/** The follower acknowledged `appliedLsn`: what that covers is no longer in flight. */
export function acknowledged(cursor: Cursor, appliedLsn: number, now: number): void {
  if (appliedLsn > cursor.ackedLsn) {
    cursor.ackedLsn = appliedLsn;
    cursor.lastProgressAt = now;
  }
  cursor.unansweredResends = 0;
  while (cursor.inFlight.length > 0 && cursor.inFlight[0]!.lastLsn <= cursor.ackedLsn) {
    cursor.inFlightBytes -= cursor.inFlight.shift()!.bytes;
  }
  if (cursor.nextLsn <= cursor.ackedLsn) cursor.nextLsn = cursor.ackedLsn + 1;
}

/** Sends again from `fromLsn`: nothing is in flight any more. */
export function rewind(cursor: Cursor, fromLsn: number): void {
  cursor.nextLsn = fromLsn;
  cursor.inFlight = [];
  cursor.inFlightBytes = 0;
  cursor.resends++;
}

/** A payload ending at `lastLsn`, `bytes` long, went out; its acknowledgement is awaited `patienceMs` longer than usual. */
export function sent(cursor: Cursor, lastLsn: number, bytes: number, patienceMs: number, now: number): void {
  cursor.inFlight.push({ lastLsn, bytes, patienceMs });
  cursor.inFlightBytes += bytes;
  cursor.bytesSent += bytes;
  cursor.sentSinceTick = true;
  if (cursor.inFlight.length === 1) cursor.lastProgressAt = now;
  cursor.nextLsn = lastLsn + 1;
}

/**
 * Whether a status heartbeat is due to the follower at a tick: always the
 * first, then only when no payload went to it since the last tick (a
 * payload is word from the leader, and says how far its log reaches).
 * Resets the tick's record of payloads sent.
 */
export function statusDue(cursor: Cursor): boolean {
  const due = !cursor.statusSent || !cursor.sentSinceTick;
  cursor.sentSinceTick = false;
  if (due) cursor.statusSent = true;
  return due;
}

/** How long the follower may leave what is in flight unacknowledged before it is resent. */
export function patience(cursor: Cursor, resendTimeoutMs: number): number {
  return resendTimeoutMs + cursor.inFlight.reduce((sum, inFlight) => sum + inFlight.patienceMs, 0);
}

/** The cursor as `WalShipper.stats()` reports it. */
export function cursorStats(cursor: Cursor): FollowerCursor {
  return {
    follower: cursor.follower,
    nextLsn: cursor.nextLsn,
    ackedLsn: cursor.ackedLsn,
    inFlightBytes: cursor.inFlightBytes,
    payloadsSent: cursor.payloadsSent,
    bytesSent: cursor.bytesSent,
    resends: cursor.resends,
    snapshotsSent: cursor.snapshotsSent,
  };
}
