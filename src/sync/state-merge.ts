/**
 * `operationsToMerge`: the CRDT operations that take one shard state to its
 * merge with another (docs/SYNC.md §9). A device that joins from another
 * device's snapshot appends them to its log as import events, so that the
 * merge of a whole state is logged, replicated and replayed like any other
 * merge, one batch with the cursors it advances.
 *
 *     const ops = operationsToMerge(local, snapshotState);
 *     for (const op of ops) local.apply(op, { merged: true }); // local now equals local.merge(snapshotState)
 *
 * Applied to `mine`, the operations make it equal (encoded byte for byte)
 * to `mine.merge(theirs)`: per counter replica the steps its totals lack
 * (merge takes the larger total; the state's own replicas are never behind
 * a snapshot of them, so a step is always the difference), each register
 * that would win with its value, stamp and replica (the register keeps
 * the greater stamp, as merge does), each set member not there yet. The
 * computation reads both states and changes neither.
 */
import type { CrdtOperation } from '../crdt/operation.js';
import type { CrdtSignalState } from '../crdt/signal-state.js';

/** Replica id of the `add` operations a snapshot's set members arrive in (sets keep no replica). */
export const SNAPSHOT_REPLICA = 'snapshot';

/** The operations that take `mine` to `mine.merge(theirs)`. */
export function operationsToMerge(mine: CrdtSignalState, theirs: CrdtSignalState): CrdtOperation[] {
  const ops: CrdtOperation[] = [];
  for (const [key, entity] of theirs.entityEntries()) {
    for (const [kind, counter] of entity.counters ?? []) {
      const local = mine.counter(key, kind);
      for (const replica of counter.replicas()) {
        const t = counter.totalsOf(replica);
        const m = local?.totalsOf(replica) ?? { increments: 0, decrements: 0 };
        if (t.increments > m.increments) ops.push({ op: 'increment', key, kind, by: t.increments - m.increments, replica });
        if (t.decrements > m.decrements) ops.push({ op: 'decrement', key, kind, by: t.decrements - m.decrements, replica });
      }
    }
    for (const [field, register] of entity.fields ?? []) {
      const local = mine.field(key, field);
      if (local && !local.clone().merge(register)) continue; // the local write wins (or is the same one)
      ops.push({ op: 'set', key, field, value: register.value, hlc: register.hlc, replica: register.replica });
    }
    for (const [set, members] of entity.sets ?? []) {
      for (const member of members.values()) {
        if (!mine.hasMember(key, set, member)) ops.push({ op: 'add', key, set, member, replica: SNAPSHOT_REPLICA });
      }
    }
  }
  return ops;
}

/**
 * How many operations `operationsToMerge` gives for `theirs` merged into an
 * empty state: per counter replica one per total that is not 0, each
 * register, each set member. Beside the operations a merge needs, it tells
 * how much of `theirs` the local state lacks.
 */
export function mergeOperationCount(theirs: CrdtSignalState): number {
  let count = 0;
  for (const [, entity] of theirs.entityEntries()) {
    for (const counter of entity.counters?.values() ?? []) {
      for (const replica of counter.replicas()) {
        const t = counter.totalsOf(replica);
        count += (t.increments > 0 ? 1 : 0) + (t.decrements > 0 ? 1 : 0);
      }
    }
    count += entity.fields?.size ?? 0;
    for (const members of entity.sets?.values() ?? []) count += members.size;
  }
  return count;
}
