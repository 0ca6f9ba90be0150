/**
 * `IdempotencyStore`: what a shard's leader remembers of each writer
 * session so that a write takes effect at most once, across retries,
 * crashes and leader changes.
 *
 * Per session: the highest SeqNo admitted into the log, the applied
 * high-water mark, and the LSNs of recent writes the writer has not yet
 * acknowledged (a duplicate gets its original token back). Per application
 * idempotency key: the LSN of the write that carried it, until the key
 * expires. Everything here is rebuilt from the WAL (`record` is called for
 * every write event, live or replayed), so a recovered leader or a
 * promoted follower knows it too.
 *
 * Memory is bounded: at most `maxSessions` sessions (least recently used
 * go first) forgotten after `sessionIdleMs` idle, at most
 * `maxResultsPerSession` remembered results, at most `maxKeys` keys living
 * `keyTtlMs`. A write from a session the store forgot is refused with
 * `SessionExpired` unless it is provably new (its first write, from a
 * session started after anything forgotten could have been).
 */
import type { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import { ASCII_FAST_PATH_MAX, asciiString } from '../common/utf8.js';
import type { SeqNo, SessionId, WriteEvent, WriteRequest } from './write.js';

/** Limits of an `IdempotencyStore`; every one has a documented default. */
export interface IdempotencyStoreOptions {
  /** Sessions remembered at once. Default 10,000. */
  readonly maxSessions?: number;
  /** A session idle this long is forgotten. Default 24 h. */
  readonly sessionIdleMs?: number;
  /** Results (SeqNo → LSN) kept per session beyond what its writer acknowledged. Default 4,096. */
  readonly maxResultsPerSession?: number;
  /** Idempotency keys remembered at once. Default 100,000. */
  readonly maxKeys?: number;
  /** How long an idempotency key protects against a retry. Default 24 h. */
  readonly keyTtlMs?: number;
}

/** How a leader must treat an incoming write. */
export type Admission =
  | {
      /** Apply it: it is the session's next write. */
      readonly kind: 'new';
    }
  | {
      /** Applied before: answer with the original LSN, apply nothing. */
      readonly kind: 'duplicate';
      /** LSN of the event that applied it the first time. */
      readonly lsn: number;
    }
  | {
      /** Admitted and on its way into the log: wait for that, apply nothing. */
      readonly kind: 'in-flight';
    };

interface SessionEntry {
  readonly startedAt: number;
  /** Highest SeqNo admitted into the log (applied or in flight). */
  admitted: SeqNo;
  /** Highest SeqNo applied: every SeqNo up to it is in the log. */
  applied: SeqNo;
  /** What the writer said it has acknowledged. */
  acked: SeqNo;
  /** SeqNo → LSN, for SeqNos above `acked`. */
  readonly results: Map<SeqNo, number>;
  lastSeenMs: number;
}

/** Approximate bytes a session entry costs (the session bench measured ~690 bytes for a session keeping 4 results). */
const SESSION_BASE_BYTES = 550;
const RESULT_BYTES = 40;

/** Per-session applied high-water marks and recent results, and idempotency keys. */
export class IdempotencyStore {
  private readonly maxSessions: number;
  private readonly sessionIdleMs: number;
  private readonly maxResultsPerSession: number;
  private readonly maxKeys: number;
  private readonly keyTtlMs: number;
  /** In least-recently-used order (a Map iterates in insertion order; touching re-inserts). */
  private readonly sessions = new Map<SessionId, SessionEntry>();
  /** Key → { lsn, expiresAt }, in insertion (= expiry) order. */
  private readonly keys = new Map<string, { lsn: number; expiresAt: number }>();
  /** Sessions started before this were possibly forgotten: their first write is refused too. */
  private forgottenBefore = 0;
  /** Writes refused because their session was forgotten. */
  expiredRefusals = 0;

  /** An empty store with the given bounds (defaults above); refuses a bad bound with `InvalidArgument`. */
  constructor(options: IdempotencyStoreOptions = {}) {
    this.maxSessions = limit(options.maxSessions, 10_000, 'maxSessions');
    this.sessionIdleMs = limit(options.sessionIdleMs, 24 * 3600_000, 'sessionIdleMs');
    this.maxResultsPerSession = limit(options.maxResultsPerSession, 4096, 'maxResultsPerSession');
    this.maxKeys = limit(options.maxKeys, 100_000, 'maxKeys');
    this.keyTtlMs = limit(options.keyTtlMs, 24 * 3600_000, 'keyTtlMs');
  }

  /** Sessions remembered now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Idempotency keys remembered now. */
  get keyCount(): number {
    return this.keys.size;
  }

  /** An estimate of the memory held, in bytes. */
  approximateBytes(): number {
    let bytes = 0;
    for (const entry of this.sessions.values()) bytes += SESSION_BASE_BYTES + entry.results.size * RESULT_BYTES;
    for (const key of this.keys.keys()) bytes += 64 + key.length * 2;
    return bytes;
  }

  /** The applied high-water mark of a session (0 when unknown). */
  appliedHwm(session: SessionId): SeqNo {
    return this.sessions.get(session)?.applied ?? 0;
  }

  /** The LSN of the live write that carried `key`, if any. */
  lsnForKey(key: string, now: number): number | undefined {
    const entry = this.keys.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.keys.delete(key);
      return undefined;
    }
    return entry.lsn;
  }

  /**
   * Decides how a leader treats `request`, without changing anything.
   * Throws `SeqGap` (a SeqNo past the next expected one: resend in order),
   * `StaleWrite` (at or below what the writer already acknowledged) or
   * `SessionExpired` (a session the store forgot).
   */
  classify(request: WriteRequest, now: number): Admission {
    this.expire(now);
    const entry = this.sessions.get(request.session);
    if (!entry) {
      // Unknown, but started after anything this store forgot: a session whose first writes never
      // reached the log (a crash before they were durable). It starts at 1, and in order.
      if (request.startedAt >= this.forgottenBefore && now - request.startedAt < this.sessionIdleMs) {
        if (request.seq === 1) return { kind: 'new' };
        throw new TidalError(
          'SeqGap',
          `session ${request.session} sent write ${request.seq} but the leader has none of its writes; resend from 1 in order`,
          {
            details: { expected: 1 },
          },
        );
      }
      this.expiredRefusals++;
      throw new TidalError(
        'SessionExpired',
        `session ${request.session} is not remembered (idle longer than ${this.sessionIdleMs} ms, or evicted); write ${request.seq} was not applied. Start a new session; writes with an idempotencyKey can be retried safely`,
      );
    }
    if (request.seq <= entry.admitted) {
      if (request.seq <= entry.acked) {
        throw new TidalError(
          'StaleWrite',
          `session ${request.session} already acknowledged write ${request.seq}; it was applied once and is not applied again`,
        );
      }
      if (request.seq > entry.applied) return { kind: 'in-flight' };
      const lsn = entry.results.get(request.seq);
      if (lsn === undefined) {
        throw new TidalError(
          'StaleWrite',
          `write ${request.seq} of session ${request.session} was applied long ago (its result is no longer kept); it is not applied again`,
        );
      }
      return { kind: 'duplicate', lsn };
    }
    if (request.seq > entry.admitted + 1) {
      throw new TidalError(
        'SeqGap',
        `session ${request.session} sent write ${request.seq} but the leader expects ${entry.admitted + 1}; resend from ${entry.applied + 1} in order`,
        {
          details: { expected: entry.admitted + 1 },
        },
      );
    }
    return { kind: 'new' };
  }

  /** Marks `request` as on its way into the log (after `classify` said `new`). */
  admit(request: WriteRequest, now: number): void {
    const entry = this.sessionFor(request.session, request.startedAt, now);
    entry.admitted = Math.max(entry.admitted, request.seq);
  }

  /** The log refused an admitted write (storage failure): the writer will resend it. */
  abandon(session: SessionId, seq: SeqNo): void {
    const entry = this.sessions.get(session);
    if (entry && entry.admitted >= seq) entry.admitted = Math.max(entry.applied, seq - 1);
  }

  /**
   * Records a write event applied at `lsn`: live on the leader after the
   * log committed it, on a follower as it applies it, and on replay.
   */
  record(lsn: number, event: WriteEvent): void {
    const entry = this.sessionFor(event.session, event.startedAt, event.at);
    entry.applied = Math.max(entry.applied, event.seq);
    entry.admitted = Math.max(entry.admitted, event.seq);
    entry.acked = Math.max(entry.acked, event.acked);
    entry.lastSeenMs = Math.max(entry.lastSeenMs, event.at);
    entry.results.set(event.seq, lsn);
    for (const seq of entry.results.keys()) {
      if (seq > entry.acked && entry.results.size <= this.maxResultsPerSession) break;
      entry.results.delete(seq); // acknowledged by the writer, or past the bound (oldest first)
    }
    if (event.key !== undefined) {
      this.keys.delete(event.key);
      this.keys.set(event.key, { lsn, expiresAt: event.at + this.keyTtlMs });
      while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    }
  }

  /** Forgets sessions idle past `sessionIdleMs` and keys past their time. */
  expire(now: number): void {
    for (const [id, entry] of this.sessions) {
      if (now - entry.lastSeenMs < this.sessionIdleMs) break; // LRU order: the rest are fresher
      this.forget(id, entry);
    }
    for (const [key, entry] of this.keys) {
      if (entry.expiresAt > now) break;
      this.keys.delete(key);
    }
  }

  /**
   * Writes everything the store remembers, in its own order (sessions least
   * recently used first, keys oldest first), for a snapshot (docs/FORMAT.md
   * §9.2). Two stores that recorded the same writes write the same bytes.
   */
  writeTo(enc: Encoder): void {
    enc.writeVarUint(this.forgottenBefore);
    enc.writeVarUint(this.expiredRefusals);
    enc.writeVarUint(this.sessions.size);
    for (const [id, entry] of this.sessions) {
      enc.writeString(id);
      for (const n of [entry.startedAt, entry.admitted, entry.applied, entry.acked, entry.lastSeenMs]) enc.writeVarUint(n);
      enc.writeVarUint(entry.results.size);
      for (const [seq, lsn] of entry.results) {
        enc.writeVarUint(seq);
        enc.writeVarUint(lsn);
      }
    }
    enc.writeVarUint(this.keys.size);
    for (const [key, entry] of this.keys) {
      enc.writeString(key);
      enc.writeVarUint(entry.lsn);
      enc.writeVarUint(entry.expiresAt);
    }
  }

  /**
   * Replaces what the store remembers with what `writeTo` wrote (a verified
   * snapshot's). Counts are bounded by the store's limits (`LengthOutOfBounds`).
   */
  readFrom(dec: Decoder): void {
    this.sessions.clear();
    this.keys.clear();
    this.forgottenBefore = dec.readVarUint();
    this.expiredRefusals = dec.readVarUint();
    const sessionCount = dec.readVarUint();
    if (sessionCount > this.maxSessions) {
      throw new TidalError('LengthOutOfBounds', `snapshot holds ${sessionCount} sessions, over maxSessions (${this.maxSessions})`);
    }
    for (let i = 0; i < sessionCount; i++) {
      const id = readString(dec);
      const startedAt = dec.readVarUint();
      const admitted = dec.readVarUint();
      const applied = dec.readVarUint();
      const acked = dec.readVarUint();
      const lastSeenMs = dec.readVarUint();
      const resultCount = dec.readVarUint();
      if (resultCount > dec.remaining)
        throw new TidalError('LengthOutOfBounds', `session ${id} claims ${resultCount} results, past the end`);
      const results = new Map<SeqNo, number>();
      for (let j = 0; j < resultCount; j++) results.set(dec.readVarUint(), dec.readVarUint());
      this.sessions.set(id, { startedAt, admitted, applied, acked, results, lastSeenMs });
    }
    const keyCount = dec.readVarUint();
    if (keyCount > this.maxKeys)
      throw new TidalError('LengthOutOfBounds', `snapshot holds ${keyCount} keys, over maxKeys (${this.maxKeys})`);
    for (let i = 0; i < keyCount; i++) {
      const key = readString(dec);
      const lsn = dec.readVarUint();
      this.keys.set(key, { lsn, expiresAt: dec.readVarUint() });
    }
  }

  private sessionFor(session: SessionId, startedAt: number, now: number): SessionEntry {
    let entry = this.sessions.get(session);
    if (entry) {
      this.sessions.delete(session); // re-insert: most recently used last
    } else {
      entry = { startedAt, admitted: 0, applied: 0, acked: 0, results: new Map(), lastSeenMs: now };
      while (this.sessions.size >= this.maxSessions) {
        const [oldest, oldestEntry] = this.sessions.entries().next().value!;
        this.forget(oldest, oldestEntry);
      }
    }
    entry.lastSeenMs = Math.max(entry.lastSeenMs, now);
    this.sessions.set(session, entry);
    return entry;
  }

  private forget(id: SessionId, entry: SessionEntry): void {
    this.sessions.delete(id);
    // Any session that started before this one was last seen might have writes we no longer know of.
    this.forgottenBefore = Math.max(this.forgottenBefore, entry.lastSeenMs + 1);
  }
}

/**
 * `dec.readString()`, with session ids (32 hex digits) and short keys built
 * straight from the buffer instead of through a view and a TextDecoder call
 * each (most of the store's share of a snapshot load). Anything else, and
 * every error, is `readString`'s own: it rereads from the same offset.
 */
function readString(dec: Decoder): string {
  const at = dec.offset;
  const length = dec.readVarUint();
  if (length <= ASCII_FAST_PATH_MAX && length <= dec.remaining) {
    const text = asciiString(dec.bytes, dec.offset, dec.offset + length);
    if (text !== undefined) {
      dec.offset += length;
      return text;
    }
  }
  dec.offset = at;
  return dec.readString();
}

/** A positive integer limit, or its default. */
function limit(value: number | undefined, fallback: number, name: string): number {
  return integerOption(`IdempotencyStore ${name}`, value, { min: 1, default: fallback });
}
