/**
 * Retention: who still needs which part of the log. A follower that has
 * not acknowledged past an LSN, sync that has not uploaded it, a reader in
 * the middle of a replay: each holds a retention from the first LSN it
 * still needs, and compaction deletes nothing at or past the lowest one.
 *
 *     retentions.retain('follower:b', 1201);
 *     const floor = retentions.floor(snapshotLsn + 1); // compaction deletes only below this
 */
import { TidalError } from '../common/errors.js';

/** Holder → the first LSN it still needs. */
export class Retentions {
  private readonly holders = new Map<string, number>();

  /** Holds every LSN from `fromLsn` on for `holder`, replacing its earlier retention. */
  retain(holder: string, fromLsn: number): void {
    if (!Number.isSafeInteger(fromLsn) || fromLsn < 1)
      throw new TidalError('InvalidArgument', `retain: fromLsn must be a positive integer, got ${fromLsn}`);
    this.holders.set(holder, fromLsn);
  }

  /** Drops `holder`'s retention. */
  release(holder: string): void {
    this.holders.delete(holder);
  }

  /** The retentions in force. */
  get all(): ReadonlyMap<string, number> {
    return this.holders;
  }

  /** The lowest of `beforeLsn` and every retention: compaction keeps every LSN from it on. */
  floor(beforeLsn: number): number {
    let floor = beforeLsn;
    for (const lsn of this.holders.values()) floor = Math.min(floor, lsn);
    return floor;
  }
}
