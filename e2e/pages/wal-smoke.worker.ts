/**
 * Worker side of the WAL smoke page (`wal-smoke.html`): a dedicated module
 * worker, as a shard host will be, that writes a WAL on OPFS and, in a later
 * worker (after a restart or a page reload), recovers it and reads it back.
 *
 * The events are a pure function of their index (`smokeEvent`), so the
 * verifying worker regenerates what was written without being told it. It
 * returns plain summaries and lists of problems it found; the Playwright
 * spec asserts on them.
 */
import * as Comlink from 'comlink';
import { isTidalError } from '../../src/common/errors.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import type { Value } from '../../src/wal/payload.js';
import { Wal, type LsnRange, type RecoveryReport, type WalSegmentInfo } from '../../src/wal/wal.js';

/** Where the smoke test's databases live in OPFS: `tidal-e2e/<db>/`. */
const ROOT = 'tidal-e2e';
const SHARD = 7;
/** At most this many problems are listed; the count says how many there were. */
const MAX_LISTED = 10;
/** How long a new worker waits for a dead one's exclusive OPFS handles to be released. */
const HANDLE_RELEASE_WAIT_MS = 10_000;

/** A segment as plain data. */
export interface SegmentSummary {
  name: string;
  baseLsn: number;
  lastLsn: number;
  sealed: boolean;
  bytes: number;
}

/** What `write` did. */
export interface WriteSummary {
  lastLsn: number;
  /** `append` calls made (several share a batch when issued in the same tick). */
  appendCalls: number;
  /** Batches in the log, counted by reading it back before closing. */
  batches: number;
  segments: SegmentSummary[];
  /** Sum of the segment sizes. */
  bytes: number;
  /** Anything that contradicted what the WAL promises (empty when all is well). */
  problems: string[];
}

/** The recovery report as plain data. */
export interface ReportSummary {
  segments: number;
  batches: number;
  events: number;
  bytes: number;
  bytesCut: number;
  lastLsn: number;
  issues: { code: string; message: string }[];
}

/** What `reopenAndVerify` found. */
export interface VerifySummary {
  report: ReportSummary;
  segments: SegmentSummary[];
  /** Events `read(1)` returned. */
  eventsRead: number;
  /** Events that differ from what was written, or LSNs out of place (first few). */
  mismatches: string[];
  mismatchCount: number;
  /** `read(from)` from the middle of a batch: the first LSN and how many came back. */
  midRead: { from: number; firstLsn: number; count: number };
  /** The LSNs an append after recovery got. */
  appendedAfter: LsnRange;
}

/**
 * The event with index `i` (LSN `i + 1`): every kind of value the payload
 * encoding accepts, including the awkward numbers, non-ASCII strings,
 * bytes of many lengths (one larger than a small segment), and nesting.
 */
export function smokeEvent(i: number): Value {
  switch (i % 10) {
    case 0:
      return i % 20 === 0 ? null : i % 3 === 0;
    case 1:
      return [0, 127, 128, -1, -(2 ** 53), 2 ** 53 - 1, i * 1_000_003][i % 7]! * (i % 2 === 0 ? 1 : -1);
    case 2:
      return [i / 7, -0, NaN, Infinity, -Infinity, 2 ** 60, Number.MIN_VALUE][i % 7]!;
    case 3:
      return i % 2 === 0 ? (1n << 70n) + BigInt(i) : -(BigInt(i) ** 5n) - 1n;
    case 4:
      return i % 4 === 0 ? '' : `événement ${i} ✓ 🌊 ${'ß'.repeat(i % 17)}`;
    case 5: {
      // Every 500th is 20 KiB, larger than the smoke test's segments.
      const length = i % 500 === 5 ? 20 * 1024 : (i * 37) % 700;
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = (i + j * 13) & 0xff;
      return bytes;
    }
    case 6:
      return [i, `k${i}`, null, [true, [false, []]], {}];
    case 7:
      return { op: 'set', key: `user:${i % 97}`, value: { n: i, tags: ['a', 'b'], at: 1_700_000_000_000 + i }, seq: BigInt(i) };
    case 8:
      return { op: 'increment', key: `counter:${i % 5}`, by: (i % 11) - 5 };
    default:
      return { nested: { deeper: { deepest: [i, { leaf: new Uint8Array([i & 0xff, 0, 255]) }] } }, 'key with spaces': 'é' };
  }
}

/** Deep equality as the payload encoding promises it: `Object.is` on numbers, key order kept. */
function sameValue(a: Value, b: Value): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]!));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameValue(a[k]!, b[k]!));
}

const show = (v: Value): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'bigint'
      ? `${x}n`
      : x instanceof Uint8Array
        ? `bytes[${x.length}]`
        : typeof x === 'number' && !Number.isFinite(x)
          ? String(x)
          : x,
  ) ?? String(v);

function summarizeSegments(segments: readonly WalSegmentInfo[]): SegmentSummary[] {
  return segments.map((s) => ({ name: s.id.fileName(), baseLsn: s.baseLsn, lastLsn: s.lastLsn, sealed: s.sealed, bytes: s.bytes }));
}

function summarizeReport(report: RecoveryReport): ReportSummary {
  const { segments, batches, events, bytes, bytesCut, lastLsn } = report;
  return { segments, batches, events, bytes, bytesCut, lastLsn, issues: report.issues.map((i) => ({ code: i.code, message: i.message })) };
}

/**
 * Opens the database's WAL. A worker that died (terminated, or its page
 * reloaded) may still hold exclusive OPFS handles for a moment; opening
 * waits, bounded, for them to be released.
 */
async function openWal(db: string, segmentBytes: number): Promise<{ wal: Wal; report: RecoveryReport }> {
  const storage = await OpfsStorage.open([ROOT, db]);
  const deadline = performance.now() + HANDLE_RELEASE_WAIT_MS;
  for (;;) {
    try {
      return await Wal.open(storage, { shard: SHARD, segmentBytes });
    } catch (error) {
      const held = isTidalError(error, 'StorageError') && error.message.includes('NoModificationAllowedError');
      if (!held || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Kept open after a `write` without `close`, until the page goes away. */
let leftOpen: Wal | undefined;

const api = {
  /**
   * Writes `events` smoke events to a fresh WAL in appends of varying
   * sizes, some issued together in one tick (one group commit), checking
   * every LSN range returned. Closes the WAL unless `close` is false (then
   * it stays open until the worker dies, as in a reload mid-session).
   */
  async write(db: string, options: { events: number; segmentBytes: number; close: boolean }): Promise<WriteSummary> {
    const problems: string[] = [];
    const { wal, report } = await openWal(db, options.segmentBytes);
    if (report.segments !== 0 || report.lastLsn !== 0 || report.issues.length > 0) {
      problems.push(`a fresh database recovered as ${JSON.stringify(summarizeReport(report))}`);
    }
    const sizes = [1, 7, 50, 3, 200, 13, 1, 120];
    let next = 0;
    let appendCalls = 0;
    for (let step = 0; next < options.events; step++) {
      // Every third step issues three appends in one tick; they must share a batch and get
      // consecutive LSN ranges in the order they were issued.
      const together = step % 3 === 2 ? 3 : 1;
      const calls: { from: number; count: number; done: Promise<LsnRange> }[] = [];
      for (let k = 0; k < together && next < options.events; k++) {
        const count = Math.min(sizes[(step + k) % sizes.length]!, options.events - next);
        const events = Array.from({ length: count }, (_, j) => smokeEvent(next + j));
        calls.push({ from: next, count, done: wal.append(events) });
        next += count;
        appendCalls += 1;
      }
      for (const call of calls) {
        const range = await call.done;
        if (range.first !== call.from + 1 || range.last !== call.from + call.count) {
          problems.push(`append of events ${call.from}..${call.from + call.count - 1} got LSNs ${range.first}..${range.last}`);
        }
      }
    }
    let batches = 0;
    for await (const _batch of wal.readBatches(1)) batches += 1;
    const segments = summarizeSegments(wal.segments());
    const summary: WriteSummary = {
      lastLsn: wal.lastLsn,
      appendCalls,
      batches,
      segments,
      bytes: segments.reduce((sum, s) => sum + s.bytes, 0),
      problems: problems.slice(0, MAX_LISTED),
    };
    if (options.close) await wal.close();
    else leftOpen = wal;
    return summary;
  },

  /**
   * Recovers the database's WAL, reads every event back and compares it
   * with what `write` wrote, reads again from the middle of a batch,
   * appends one more event (its LSN must follow on) and closes.
   */
  async reopenAndVerify(db: string, options: { events: number; segmentBytes: number }): Promise<VerifySummary> {
    const { wal, report } = await openWal(db, options.segmentBytes);
    try {
      const mismatches: string[] = [];
      let mismatchCount = 0;
      const mismatch = (text: string) => {
        mismatchCount += 1;
        if (mismatches.length < MAX_LISTED) mismatches.push(text);
      };
      let eventsRead = 0;
      for await (const { lsn, event } of wal.read(1)) {
        const index = eventsRead;
        eventsRead += 1;
        if (lsn !== index + 1) mismatch(`event ${index} came back at LSN ${lsn}`);
        if (index >= options.events) {
          mismatch(`LSN ${lsn} is past the ${options.events} events written`);
          continue;
        }
        const expected = smokeEvent(index);
        if (!sameValue(event, expected)) mismatch(`LSN ${lsn}: wrote ${show(expected)}, read ${show(event)}`);
      }

      const from = Math.max(1, Math.floor(options.events / 2) + 1);
      let firstLsn = 0;
      let count = 0;
      for await (const { lsn } of wal.read(from)) {
        if (count === 0) firstLsn = lsn;
        count += 1;
      }
      const segments = summarizeSegments(wal.segments());
      const appendedAfter = await wal.append([{ op: 'after-recovery' }]);
      return {
        report: summarizeReport(report),
        segments,
        eventsRead,
        mismatches,
        mismatchCount,
        midRead: { from, firstLsn, count },
        appendedAfter,
      };
    } finally {
      await wal.close();
    }
  },

  /** Closes a WAL left open by `write` (if any) and deletes the database's OPFS folder. */
  async destroy(db: string): Promise<void> {
    await leftOpen?.close();
    leftOpen = undefined;
    await OpfsStorage.destroy([ROOT, db]);
  },
};

/** The API the smoke page reaches over comlink. */
export type WalSmokeWorkerApi = typeof api;

Comlink.expose(api);
