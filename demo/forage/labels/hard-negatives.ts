/**
 * Hard negatives under union semantics. Tabs and replicas add hard
 * negatives concurrently, and tidal keeps them in a `GSet` (grow-only; merge
 * is union): a mark made anywhere is seen everywhere, never lost by a merge,
 * never counted twice.
 *
 * What un-marking means. A GSet cannot remove, so "un-mark" cannot delete a
 * mark; taking the item out of the set on one replica would be undone by the
 * next merge. Un-marking is therefore a second grow-only set, of tombstones,
 * and a mark is in force while its tombstone is absent. Marks carry a unique
 * `markId`, and a tombstone names the `markId`s it ends, not the item: so
 * un-marking ends exactly the marks the un-marking tab had seen, and marking
 * the same item again later (a new `markId`) is not cancelled by the old
 * tombstone. Concurrent mark and un-mark: the mark the un-marker had not seen
 * survives ("add wins", the observed-remove set of Shapiro et al. 2011,
 * built from two GSets). Both sets only grow, so every replica that has
 * merged the same marks and tombstones computes the same hard negatives.
 *
 * Consequence for scores: a new mark can only lower scores; a tombstone can
 * raise them back, to exactly what they were without that mark.
 *
 *     await db.add(`label:${id}`, 'hardNegatives', newHardNegativeMark(itemId, crypto.randomUUID()));
 *     await db.add(`label:${id}`, 'unmarked', ...unmarkTombstones(marks, tombstones, itemId)); // one add per tombstone
 *     const negatives = activeHardNegatives(entity.sets.hardNegatives ?? [], entity.sets.unmarked ?? []);
 */
import { TidalError } from '../../../src/index.js';

/** A member of a label's hard-negative GSet. */
export interface HardNegativeMark {
  readonly itemId: string;
  /** Unique per mark (a UUID): what a tombstone names. */
  readonly markId: string;
}

/** A member of a label's tombstone GSet: the mark it ends. */
export interface HardNegativeTombstone {
  readonly markId: string;
}

/** A new mark of `itemId` as a hard negative. */
export function newHardNegativeMark(itemId: string, markId: string): HardNegativeMark {
  if (typeof itemId !== 'string' || itemId.length === 0)
    throw new TidalError('InvalidArgument', 'hardNegative.itemId must be a non-empty string', { details: { field: 'itemId' } });
  if (typeof markId !== 'string' || markId.length === 0)
    throw new TidalError('InvalidArgument', 'hardNegative.markId must be a non-empty string', { details: { field: 'markId' } });
  return { itemId, markId };
}

/** The tombstones that un-mark `itemId`: one per mark of it in force in `marks`. */
export function unmarkTombstones(marks: readonly unknown[], tombstones: readonly unknown[], itemId: string): HardNegativeTombstone[] {
  const ended = endedMarks(tombstones);
  return parseMarks(marks)
    .filter((mark) => mark.itemId === itemId && !ended.has(mark.markId))
    .map((mark) => ({ markId: mark.markId }));
}

/**
 * The item ids that are hard negatives: marked, and not every mark of them
 * ended by a tombstone. Members that are not marks (written by a buggy tab)
 * are skipped, not trusted.
 */
export function activeHardNegatives(marks: readonly unknown[], tombstones: readonly unknown[]): Set<string> {
  const ended = endedMarks(tombstones);
  const active = new Set<string>();
  for (const mark of parseMarks(marks)) if (!ended.has(mark.markId)) active.add(mark.itemId);
  return active;
}

function parseMarks(members: readonly unknown[]): HardNegativeMark[] {
  const marks: HardNegativeMark[] = [];
  for (const member of members) {
    if (typeof member !== 'object' || member === null) continue;
    const { itemId, markId } = member as Record<string, unknown>;
    if (typeof itemId === 'string' && itemId.length > 0 && typeof markId === 'string' && markId.length > 0) marks.push({ itemId, markId });
  }
  return marks;
}

function endedMarks(tombstones: readonly unknown[]): Set<string> {
  const ended = new Set<string>();
  for (const member of tombstones) {
    if (typeof member !== 'object' || member === null) continue;
    const { markId } = member as Record<string, unknown>;
    if (typeof markId === 'string' && markId.length > 0) ended.add(markId);
  }
  return ended;
}
