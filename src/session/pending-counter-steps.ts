/**
 * `PendingCounterSteps`: the counter steps a shard's leader has admitted
 * and not yet applied, so that no acknowledged step is refused when it is
 * applied. The leader checks a write against them before admitting it,
 * reserves its steps while the write is on its way into the log, and
 * releases them once it is applied (or failed).
 *
 *     const steps = pending.check(request.ops);      // throws Overflow past ±(2^53-1)
 *     const id = pending.reserve(request.ops, steps);
 *     // ... appended and applied ...
 *     pending.release(steps, id);
 *
 * What is held is the sum of every pending step over every counter and
 * both directions (all of this leader's replica): a bound on what any one
 * counter has pending, exact while the sum is a safe integer. Only a
 * counter that close to the bound is counted exactly, from the operations
 * of the writes that hold steps.
 *
 * Beside it, a bound on what the counters already hold: the sum of every
 * step the state has applied (of every replica), which no counter's
 * totals nor value can exceed. While that bound, the pending steps and the
 * write's own steps stay within 2^53-1, no step can overflow and none is
 * looked up: in a CPU profile of the peers bench, looking every counter up
 * (`checkCounterStep`) was 7-8 % of a leader worker's time.
 */
import { isTidalError } from '../common/errors.js';
import type { CounterOperation } from '../crdt/operation.js';
import type { PendingSteps } from '../crdt/pn-counter.js';
import type { ShardState } from './shard-state.js';
import type { ClientOperation, WriteRequest } from './write.js';

/** The counter steps admitted by one leader and not yet applied. */
export class PendingCounterSteps {
  private readonly state: ShardState;
  private readonly replica: string;
  /** The sum of every pending step, over every counter and both directions. */
  private sum = 0;
  /** Whether `sum` is exact (a double holds it exactly). */
  private exact = true;
  /** The operations of the writes that hold steps, by reservation id. */
  private readonly writes = new Map<number, readonly ClientOperation[]>();
  private nextId = 0;
  /**
   * At least the sum of every counter step the state holds (every replica's increments and
   * decrements), so at least any counter's totals and the magnitude of its value; summed from the
   * state on the first check, then raised by `applied`. `undefined` until then.
   */
  private heldBound: number | undefined;

  /** Steps checked against `state`'s counters (read at each check: a snapshot may replace them), stamped by `replica`. */
  constructor(state: ShardState, replica: string) {
    this.state = state;
    this.replica = replica;
  }

  /**
   * Refuses (`Overflow`) a write whose counter steps would take a counter
   * past ±(2^53-1) once applied after the steps already admitted (and the
   * write's own earlier steps); else returns the sum of its steps, which
   * the leader holds as pending until the write is applied.
   *
   * Each step is first checked as if every pending step of the leader were
   * on its counter, in its direction: one lookup of the counter, no
   * bookkeeping per counter (this check was an eighth of a leader worker's
   * CPU with a map of pending steps per counter). Only a counter that close
   * to the bound is checked again with its own pending steps, counted
   * from the pending writes.
   */
  check(ops: WriteRequest['ops']): number {
    let steps = 0;
    // What any counter could reach: all it holds, plus every pending step (when their sum is exact).
    const reach = this.exact ? this.held() + this.sum : Infinity;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op !== 'increment' && op.op !== 'decrement') continue;
      if (reach + steps + op.by <= Number.MAX_SAFE_INTEGER) {
        steps += op.by; // no counter of the state can pass 2^53-1 with it: nothing to look up
        continue;
      }
      const step = { op: op.op, key: op.key, kind: op.kind, by: op.by, replica: this.replica };
      const bound = this.sum + steps;
      if (this.exact && bound + op.by <= Number.MAX_SAFE_INTEGER && this.fitsWithin(step, bound)) {
        steps += op.by;
        continue;
      }
      this.state.crdt.checkCounterStep(step, this.pendingOn(op.key, op.kind, ops, i));
      steps += op.by;
    }
    return steps;
  }

  /** Holds an admitted write's `steps` (its operations `ops`) as pending; returns what `release` takes back. */
  reserve(ops: readonly ClientOperation[], steps: number): number {
    if (steps === 0) return -1;
    const id = this.nextId++;
    this.writes.set(id, ops);
    this.sum += steps;
    if (this.sum > Number.MAX_SAFE_INTEGER) this.exact = false; // a double no longer holds it exactly
    return id;
  }

  /** The write's steps are applied (or will never be): no longer pending. */
  release(steps: number, id: number): void {
    if (id < 0) return;
    this.writes.delete(id);
    this.sum -= steps;
    if (this.writes.size === 0) {
      this.sum = 0;
      this.exact = true;
    }
  }

  /**
   * The state now holds `steps` more counter steps (a write's, once applied; an import's, of any
   * replica): the bound on what its counters hold rises by them.
   */
  applied(steps: number): void {
    if (this.heldBound !== undefined) this.heldBound += steps;
  }

  /** The bound on what the state's counters hold, summed from the state the first time. */
  private held(): number {
    if (this.heldBound === undefined) {
      let sum = 0;
      for (const [, entity] of this.state.crdt.entityEntries()) {
        if (!entity.counters) continue;
        for (const counter of entity.counters.values()) {
          for (const replica of counter.replicas()) {
            const totals = counter.totalsOf(replica);
            sum += totals.increments + totals.decrements;
          }
        }
      }
      this.heldBound = sum;
    }
    return this.heldBound;
  }

  /** Whether `step` fits with `bound` pending steps on its counter in its direction (what could be pending at most). */
  private fitsWithin(step: CounterOperation, bound: number): boolean {
    try {
      this.state.crdt.checkCounterStep(
        step,
        step.op === 'increment' ? { increments: bound, decrements: 0 } : { increments: 0, decrements: bound },
      );
      return true;
    } catch (error) {
      if (isTidalError(error, 'Overflow')) return false;
      throw error;
    }
  }

  /** The steps pending on counter (`key`, `kind`): those of the writes admitted and not applied, and `ops[0..end)`. */
  private pendingOn(key: string, kind: string, ops: WriteRequest['ops'], end: number): PendingSteps {
    const pending = { increments: 0, decrements: 0 };
    const count = (op: ClientOperation) => {
      if ((op.op === 'increment' || op.op === 'decrement') && op.key === key && op.kind === kind)
        pending[op.op === 'increment' ? 'increments' : 'decrements'] += op.by;
    };
    for (const written of this.writes.values()) for (const op of written) count(op);
    for (let i = 0; i < end; i++) count(ops[i]!);
    return pending;
  }
}
