import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from '../common/bytes.js';
import { isTidalError } from '../common/errors.js';
import { IdempotencyStore } from './idempotency-store.js';
import type { WriteEvent, WriteRequest } from './write.js';

const S1 = '0'.repeat(31) + '1';
const S2 = '0'.repeat(31) + '2';

function request(session: string, seq: number, acked = 0, startedAt = 1000): WriteRequest {
  return { session, startedAt, seq, acked, ops: [] };
}

function event(session: string, seq: number, at: number, options: { acked?: number; key?: string; startedAt?: number } = {}): WriteEvent {
  return {
    t: 'write',
    session,
    startedAt: options.startedAt ?? 1000,
    seq,
    acked: options.acked ?? 0,
    at,
    ops: [],
    ...(options.key ? { key: options.key } : {}),
  };
}

/** Admits and records a write the way a leader does. */
function apply(store: IdempotencyStore, lsn: number, e: WriteEvent): void {
  store.admit(request(e.session, e.seq, e.acked, e.startedAt), e.at);
  store.record(lsn, e);
}

function codeOf(fn: () => unknown): string {
  try {
    return JSON.stringify(fn());
  } catch (error) {
    if (isTidalError(error)) return error.code;
    throw error;
  }
}

describe('IdempotencyStore', () => {
  it('classifies new writes, duplicates with their original LSN, in-flight writes and gaps', () => {
    const store = new IdempotencyStore();
    expect(store.classify(request(S1, 1), 1000)).toEqual({ kind: 'new' });
    apply(store, 10, event(S1, 1, 1000));
    store.admit(request(S1, 2), 1001); // on its way into the log
    expect(store.classify(request(S1, 1), 1002)).toEqual({ kind: 'duplicate', lsn: 10 });
    expect(store.classify(request(S1, 2), 1002)).toEqual({ kind: 'in-flight' });
    expect(store.classify(request(S1, 3), 1002)).toEqual({ kind: 'new' });
    expect(codeOf(() => store.classify(request(S1, 5), 1002))).toBe('SeqGap');
    expect(store.appliedHwm(S1)).toBe(1);
    store.abandon(S1, 2); // the append failed: it will come again
    expect(store.classify(request(S1, 2), 1003)).toEqual({ kind: 'new' });
  });

  it('forgets results the writer acknowledged, and refuses them as stale', () => {
    const store = new IdempotencyStore();
    for (let seq = 1; seq <= 5; seq++) apply(store, seq * 10, event(S1, seq, 1000 + seq, { acked: seq - 1 }));
    apply(store, 60, event(S1, 6, 1010, { acked: 4 }));
    expect(codeOf(() => store.classify(request(S1, 3, 4), 1011))).toBe('StaleWrite');
    expect(store.classify(request(S1, 5, 4), 1011)).toEqual({ kind: 'duplicate', lsn: 50 });
  });

  it('keeps at most maxResultsPerSession results; an older duplicate is refused, never applied', () => {
    const store = new IdempotencyStore({ maxResultsPerSession: 3 });
    for (let seq = 1; seq <= 10; seq++) apply(store, seq, event(S1, seq, 1000));
    expect(store.classify(request(S1, 10), 1000)).toEqual({ kind: 'duplicate', lsn: 10 });
    expect(codeOf(() => store.classify(request(S1, 2), 1000))).toBe('StaleWrite');
  });

  it('expires idle sessions; a late duplicate from an expired session is refused with SessionExpired', () => {
    const store = new IdempotencyStore({ sessionIdleMs: 1000 });
    apply(store, 1, event(S1, 1, 1000));
    apply(store, 2, event(S2, 1, 1500, { startedAt: 1500 }));
    store.expire(2200); // S1 idle 1200 ms: forgotten; S2 idle 700 ms: kept
    expect(store.sessionCount).toBe(1);
    expect(codeOf(() => store.classify(request(S1, 1), 2200))).toBe('SessionExpired'); // its first write, late
    expect(codeOf(() => store.classify(request(S1, 2), 2200))).toBe('SessionExpired');
    expect(store.classify(request(S2, 1, 0, 1500), 2200)).toEqual({ kind: 'duplicate', lsn: 2 });
    // A new session started after the forgotten one was last seen is welcome.
    expect(store.classify(request('a'.repeat(32), 1, 0, 2100), 2200)).toEqual({ kind: 'new' });
    expect(store.expiredRefusals).toBe(2);
  });

  it('holds at most maxSessions sessions, evicting the least recently used', () => {
    const store = new IdempotencyStore({ maxSessions: 100 });
    for (let i = 0; i < 1000; i++) {
      const session = i.toString(16).padStart(32, '0');
      apply(store, i + 1, event(session, 1, 1000 + i, { startedAt: 1000 + i }));
    }
    expect(store.sessionCount).toBe(100);
    const evicted = (5).toString(16).padStart(32, '0');
    expect(codeOf(() => store.classify(request(evicted, 1, 0, 1005), 2000))).toBe('SessionExpired');
    const kept = (999).toString(16).padStart(32, '0');
    expect(store.classify(request(kept, 1, 0, 1999), 2000)).toEqual({ kind: 'duplicate', lsn: 1000 });
  });

  it('remembers idempotency keys until they expire, within maxKeys', () => {
    const store = new IdempotencyStore({ keyTtlMs: 500, maxKeys: 2 });
    apply(store, 7, event(S1, 1, 1000, { key: 'form-1' }));
    expect(store.lsnForKey('form-1', 1400)).toBe(7);
    expect(store.lsnForKey('form-1', 1500)).toBeUndefined();
    apply(store, 8, event(S1, 2, 1600, { key: 'a' }));
    apply(store, 9, event(S1, 3, 1600, { key: 'b' }));
    apply(store, 10, event(S1, 4, 1600, { key: 'c' }));
    expect(store.keyCount).toBe(2);
    expect(store.lsnForKey('a', 1600)).toBeUndefined();
    expect(store.lsnForKey('c', 1600)).toBe(10);
  });

  it('reads back from a snapshot every key as written: ASCII, longer than the fast path, non-ASCII, a leading U+FEFF', () => {
    const keys = ['k-1-7', 'order:' + 'x'.repeat(40), 'café', '\uFEFFk', '\uFEFF'];
    const store = new IdempotencyStore();
    keys.forEach((key, i) => apply(store, 10 + i, event(S1, i + 1, 1000 + i, { key })));
    apply(store, 20, event(S2, 1, 1010, { key: 'k-2-1' }));
    const encoder = new Encoder();
    store.writeTo(encoder);
    const copy = new IdempotencyStore();
    copy.readFrom(new Decoder(encoder.toBytes()));
    const again = new Encoder();
    copy.writeTo(again);
    expect(again.toBytes()).toEqual(encoder.toBytes());
    expect(copy.appliedHwm(S1)).toBe(keys.length);
    expect(copy.appliedHwm(S2)).toBe(1);
    keys.forEach((key, i) => expect(copy.lsnForKey(key, 1100)).toBe(10 + i));
    expect(copy.lsnForKey('k-2-1', 1100)).toBe(20);
  });

  it('refuses a snapshot whose key is not UTF-8, or runs past the end', () => {
    const store = new IdempotencyStore();
    apply(store, 10, event(S1, 1, 1000, { key: 'ab' }));
    const encoder = new Encoder();
    store.writeTo(encoder);
    const bytes = encoder.toBytes();
    const at = bytes.lastIndexOf(0x61); // the key's 'a'
    const malformed = bytes.slice();
    malformed[at] = 0xff;
    expect(codeOf(() => new IdempotencyStore().readFrom(new Decoder(malformed)))).toBe('MalformedPayload');
    const overlong = bytes.slice();
    overlong[at - 1] = 0x7f; // the key's length, now past the end
    expect(codeOf(() => new IdempotencyStore().readFrom(new Decoder(overlong)))).toBe('LengthOutOfBounds');
  });
});
