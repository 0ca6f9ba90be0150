/**
 * Hybrid logical clocks. An HLC timestamp is a 64-bit value held in a
 * `bigint`: the high 48 bits are wall-clock milliseconds, the low 16 bits a
 * logical counter (ARCHITECTURE.md). 64 bits do not fit a JS number, and a
 * `bigint` keeps comparison a single `<`. Timestamps from different replicas
 * that are equal break ties on the replica id (`compareStamps`).
 *
 * Because the counter sits in the low bits, "the next timestamp" is simply
 * `last + 1`: a counter overflow carries into the milliseconds by itself.
 *
 *     const clock = new HLC({ now: () => Date.now() });
 *     const stamp = clock.now();             // a local event
 *     clock.receive(stampFromAPeer);         // after a message; throws ClockDrift if it is too far ahead
 *
 * The wall clock is injected, so tests drive time by hand.
 */
import { TidalError } from '../common/errors.js';
import type { ReplicaId } from './replica-id.js';

/** A 64-bit HLC timestamp: `wallMs << 16 | counter`. */
export type HlcTimestamp = bigint;

/** Largest wall-clock reading an HLC can hold (2^48 - 1 ms, the year 10889). */
export const HLC_MAX_WALL_MS = 2 ** 48 - 1;
/** Largest logical counter (16 bits). */
export const HLC_MAX_COUNTER = 0xffff;
/** Largest timestamp (2^64 - 1). */
export const HLC_MAX: HlcTimestamp = (1n << 64n) - 1n;
/** Default `maxDriftMs`: a remote clock may be up to 60 s ahead of ours. */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

/** Builds a timestamp from its parts; throws `InvalidArgument` for parts out of range. */
export function hlcFromParts(wallMs: number, counter: number): HlcTimestamp {
  if (!Number.isSafeInteger(wallMs) || wallMs < 0 || wallMs > HLC_MAX_WALL_MS) {
    throw new TidalError('InvalidArgument', `HLC milliseconds must be an integer in 0..2^48-1, got ${wallMs}`);
  }
  if (!Number.isInteger(counter) || counter < 0 || counter > HLC_MAX_COUNTER) {
    throw new TidalError('InvalidArgument', `HLC counter must be an integer in 0..65535, got ${counter}`);
  }
  return (BigInt(wallMs) << 16n) | BigInt(counter);
}

/** The wall-clock milliseconds of a timestamp (its high 48 bits). */
export function hlcWallMs(stamp: HlcTimestamp): number {
  return Number(stamp >> 16n);
}

/** The logical counter of a timestamp (its low 16 bits). */
export function hlcCounter(stamp: HlcTimestamp): number {
  return Number(stamp & 0xffffn);
}

/** True when `value` is a `bigint` in 0..2^64-1. */
export function isHlcTimestamp(value: unknown): value is HlcTimestamp {
  return typeof value === 'bigint' && value >= 0n && value <= HLC_MAX;
}

/** Returns `value` as an `HlcTimestamp`, or throws `InvalidArgument` naming `what`. */
export function assertHlcTimestamp(value: unknown, what = 'hlc'): HlcTimestamp {
  if (!isHlcTimestamp(value)) {
    const shown = typeof value === 'bigint' ? `${value}n` : `${typeof value} ${String(value)}`;
    throw new TidalError('InvalidArgument', `${what} must be a bigint in 0..2^64-1, got ${shown}`);
  }
  return value;
}

/** Orders two (HLC, replica) stamps: by timestamp, then by replica id. Negative when `a` comes first. */
export function compareStamps(aHlc: HlcTimestamp, aReplica: ReplicaId, bHlc: HlcTimestamp, bReplica: ReplicaId): number {
  if (aHlc !== bHlc) return aHlc < bHlc ? -1 : 1;
  return aReplica < bReplica ? -1 : aReplica > bReplica ? 1 : 0;
}

/** Options of `HLC`. */
export interface HlcOptions {
  /** The wall clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** How far ahead of our wall clock a remote timestamp may be before `receive` refuses it. Default 60 000 ms; `Infinity` disables the check. */
  maxDriftMs?: number;
  /** A timestamp already issued (restored after a restart), so new ones come after it. Default 0. */
  initial?: HlcTimestamp;
}

/** A hybrid logical clock for one replica: strictly increasing timestamps that respect causality across replicas that exchange them. */
export class HLC {
  private readonly wallClock: () => number;
  private readonly maxDriftMs: number;
  private lastIssued: HlcTimestamp;
  private refusals = 0;

  /**
   * A clock on `options.now` (default `Date.now`) refusing remote stamps more than `maxDriftMs` ahead;
   * `InvalidArgument` for a bad option.
   */
  constructor(options: HlcOptions = {}) {
    this.wallClock = options.now ?? Date.now;
    const drift = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
    if (!(drift >= 0)) {
      throw new TidalError('InvalidArgument', `maxDriftMs must be a non-negative number (or Infinity), got ${drift}`);
    }
    this.maxDriftMs = drift;
    this.lastIssued = assertHlcTimestamp(options.initial ?? 0n, 'initial');
  }

  /** The last timestamp this clock issued (or was initialised with). */
  get last(): HlcTimestamp {
    return this.lastIssued;
  }

  /** How many remote timestamps `receive` refused for being too far ahead. */
  get driftRefusals(): number {
    return this.refusals;
  }

  /** A timestamp for a local event: greater than every timestamp issued or received so far, even if the wall clock went backwards. */
  now(): HlcTimestamp {
    return this.advance(BigInt(this.readWall()) << 16n, 0n);
  }

  /**
   * `count` (at least 1) consecutive timestamps for local events, `first`
   * to `first + count - 1`, all greater than everything before: a leader
   * stamps a write's operations with them, so that the log says the first
   * and the rest follow. A run past 2^16 per millisecond carries into the
   * milliseconds, as `now` does one at a time.
   */
  reserve(count: number): HlcTimestamp {
    if (!Number.isSafeInteger(count) || count < 1) throw new TidalError('InvalidArgument', `reserve takes a positive count, got ${count}`);
    const first = this.now();
    const last = first + BigInt(count - 1);
    if (last > HLC_MAX) throw new TidalError('ClockDrift', 'the HLC has reached 2^64-1 and cannot issue another timestamp');
    this.lastIssued = last;
    return first;
  }

  /**
   * Takes in a timestamp from another replica and returns a local timestamp
   * greater than it and than everything before. A remote timestamp whose
   * milliseconds are more than `maxDriftMs` ahead of our wall clock is
   * refused with `ClockDrift` (and counted in `driftRefusals`); the clock
   * does not move.
   */
  receive(remote: HlcTimestamp): HlcTimestamp {
    assertHlcTimestamp(remote, 'remote hlc');
    const wall = this.readWall();
    const remoteMs = hlcWallMs(remote);
    if (remoteMs - wall > this.maxDriftMs) {
      this.refusals++;
      throw new TidalError(
        'ClockDrift',
        `remote timestamp is ${remoteMs - wall} ms ahead of the local wall clock (limit ${this.maxDriftMs} ms); refused`,
        { details: { remoteMs, localMs: wall, maxDriftMs: this.maxDriftMs } },
      );
    }
    return this.advance(BigInt(wall) << 16n, remote + 1n);
  }

  /** Issues max(physical, last + 1, floor) and remembers it. */
  private advance(physical: HlcTimestamp, floor: HlcTimestamp): HlcTimestamp {
    let next = this.lastIssued + 1n;
    if (physical > next) next = physical;
    if (floor > next) next = floor;
    if (next > HLC_MAX) {
      throw new TidalError('ClockDrift', 'the HLC has reached 2^64-1 and cannot issue another timestamp');
    }
    this.lastIssued = next;
    return next;
  }

  private readWall(): number {
    const ms = this.wallClock();
    if (!Number.isFinite(ms) || ms < 0 || ms > HLC_MAX_WALL_MS) {
      throw new TidalError('InvalidArgument', `the injected wall clock returned ${ms}; expected milliseconds in 0..2^48-1`);
    }
    return Math.floor(ms);
  }
}
