/**
 * What the demo page and its WAL worker (`wal-demo.worker.ts`) tell each
 * other, as plain data: the worker answers every call with a `DemoResult`.
 */
import type { LsnRange, RecoveryReport } from '../../src/wal/wal.js';

/** The most events one append may ask for. */
export const MAX_APPEND = 100_000;

/** A segment file as the page shows it. */
export interface SegmentRow {
  name: string;
  baseLsn: number;
  lastLsn: number;
  sealed: boolean;
  bytes: number;
}

/** The WAL as the page shows it. */
export interface DemoState {
  open: boolean;
  lastLsn: number;
  segments: SegmentRow[];
  /** Files recovery set aside (renamed `*.quarantined-<n>`), with their sizes. */
  quarantined: { name: string; bytes: number }[];
  /** LSN ranges the log lost to damage. */
  missing: LsnRange[];
  /** The last few events, newest last, rendered as text. */
  recent: { lsn: number; text: string }[];
}

/** The outcome of an operation: what happened, in words, and the state after it. */
export interface DemoResult {
  message: string;
  ms: number;
  state: DemoState;
  /** Set by the operations that open the WAL: what recovery found. */
  report?: RecoveryReport;
}
