/**
 * PNCounter: a counter that replicas increment and decrement independently
 * and merge without coordination. Each replica id has its own running
 * totals of increments and of decrements; the value is the sum of all
 * increments minus the sum of all decrements; merge takes, per replica, the
 * larger of each total. Merging is commutative, associative and idempotent,
 * so a state merged twice counts nothing twice.
 *
 *     const c = new PNCounter();
 *     c.increment('tab-a', 3);
 *     other.decrement('tab-b');
 *     c.merge(other); c.value(); // 2
 *
 * A replica's totals only grow, and only that replica issues them: two
 * live replicas must never share an id (see replica-id.ts).
 *
 * Totals are safe integers, and a step that would take its replica's total,
 * or the counter's value, past ±(2^53 - 1) is refused with `Overflow`
 * (docs/CRDT.md, "PNCounter"). Merging never refuses: replicas that each
 * stayed in range can together pass it, and `exactValue()` then gives the
 * value as a `bigint`.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { assertReplicaId, isReplicaId, type ReplicaId } from './replica-id.js';
import { compareStrings, readCount, readUtf8, writeUtf8 } from '../common/value.js';

/** One replica's totals in a `PNCounter`. */
export interface PNCounterTotals {
  /** Sum of this replica's increments (a safe integer). */
  readonly increments: number;
  /** Sum of this replica's decrements (a safe integer). */
  readonly decrements: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Steps admitted for a counter and not applied yet (a leader's batch on its way to the log). */
export interface PendingSteps {
  /** Sum of the admitted increment steps not applied yet. */
  readonly increments: number;
  /** Sum of the admitted decrement steps not applied yet. */
  readonly decrements: number;
}

interface MutableTotals {
  increments: number;
  decrements: number;
}

/** Returns `by` if it is a positive safe integer, else throws `InvalidArgument`. */
export function assertCountStep(by: unknown, what = 'by'): number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by) || by <= 0) {
    throw new TidalError(
      'InvalidArgument',
      `${what} must be a positive safe integer, got ${typeof by === 'bigint' ? `${by}n` : String(by)}`,
    );
  }
  return by;
}

/** A grow-only pair of per-replica totals: increments and decrements. */
export class PNCounter {
  private readonly totals = new Map<ReplicaId, MutableTotals>();

  /** Adds `by` (default 1) to `replica`'s increments. Throws `InvalidArgument` for a bad replica or a `by` that is not a positive safe integer, `Overflow` (changing nothing) as `checkStep` says. */
  increment(replica: ReplicaId, by = 1): void {
    this.add(replica, by, 'increments');
  }

  /** Adds `by` (default 1) to `replica`'s decrements. Same checks as `increment`. */
  decrement(replica: ReplicaId, by = 1): void {
    this.add(replica, by, 'decrements');
  }

  /**
   * Throws unless adding `by` to `replica`'s `which` total is allowed;
   * changes nothing. Lets a caller validate before it commits.
   */
  checkStep(replica: ReplicaId, by: number, which: 'increments' | 'decrements'): void {
    assertReplicaId(replica);
    assertCountStep(by);
    this.assertRoom(replica, by, which);
  }

  /**
   * @internal Throws `Overflow` if adding `by` (plus `pending`, steps
   * admitted and not yet applied, as a net change to the value and a
   * growth of `replica`'s `which` total) would take `replica`'s total past
   * 2^53 - 1, or (unless `checkValue` is false: a merged step) the value
   * past ±(2^53 - 1) further from zero than it is. Replica and `by` are
   * already validated.
   */
  assertRoom(replica: ReplicaId, by: number, which: 'increments' | 'decrements', pending?: PendingSteps, checkValue = true): void {
    const current = (this.totals.get(replica)?.[which] ?? 0) + (pending ? pending[which] : 0);
    if (current + by > Number.MAX_SAFE_INTEGER) {
      throw new TidalError('Overflow', `replica ${replica}'s ${which} would reach ${current} + ${by}, past 2^53-1`, {
        details: { replica, current, by },
      });
    }
    if (!checkValue) return;
    const pendingNet = pending ? pending.increments - pending.decrements : 0;
    // The common case, in numbers: one replica (its value exact), far from the bounds (sums of safe integers compare exactly with 2^53-1).
    if (this.totals.size <= 1 && Math.abs(this.value()) + Math.abs(pendingNet) + by <= Number.MAX_SAFE_INTEGER) return;
    const before = this.bigValue() + BigInt(pendingNet);
    const after = which === 'increments' ? before + BigInt(by) : before - BigInt(by);
    const magnitude = after < 0n ? -after : after;
    if (magnitude > MAX_SAFE && magnitude > (before < 0n ? -before : before)) {
      throw new TidalError(
        'Overflow',
        `${which === 'increments' ? 'incrementing' : 'decrementing'} by ${by} would take the counter from ${before} to ${after}, past ±(2^53-1)`,
        { details: { value: before, by } },
      );
    }
  }

  /** @internal Adds a step already checked with `checkStep` (or validated and `assertRoom`ed). */
  addChecked(replica: ReplicaId, by: number, which: 'increments' | 'decrements'): void {
    const entry = this.totals.get(replica);
    if (entry) entry[which] += by;
    else this.totals.set(replica, which === 'increments' ? { increments: by, decrements: 0 } : { increments: 0, decrements: by });
  }

  private add(replica: ReplicaId, by: number, which: 'increments' | 'decrements'): void {
    this.checkStep(replica, by, which);
    this.addChecked(replica, by, which);
  }

  /** Increments minus decrements over all replicas. Exact while it stays within ±(2^53-1) (always, but after a merge); use `exactValue` to be sure. */
  value(): number {
    let sum = 0;
    for (const t of this.totals.values()) sum += t.increments - t.decrements;
    return sum;
  }

  /** Increments minus decrements over all replicas, exactly: a number within ±(2^53-1), else (only after merges) a bigint. */
  exactValue(): number | bigint {
    if (this.totals.size <= 1) return this.value(); // one difference of two safe integers: exact
    const sum = this.bigValue();
    return sum >= -MAX_SAFE && sum <= MAX_SAFE ? Number(sum) : sum;
  }

  /** Increments minus decrements over all replicas, exactly, as a bigint. */
  bigValue(): bigint {
    if (this.totals.size === 1) return BigInt(this.value());
    let sum = 0n;
    for (const t of this.totals.values()) sum += BigInt(t.increments) - BigInt(t.decrements);
    return sum;
  }

  /** The totals of one replica (zeros if it never counted here). */
  totalsOf(replica: ReplicaId): PNCounterTotals {
    const t = this.totals.get(replica);
    return { increments: t?.increments ?? 0, decrements: t?.decrements ?? 0 };
  }

  /** The replicas that have counted here, in id order. */
  replicas(): ReplicaId[] {
    return [...this.totals.keys()].sort(compareStrings);
  }

  /** True when no replica has counted here. */
  get isEmpty(): boolean {
    return this.totals.size === 0;
  }

  /** Takes, per replica, the larger of each total. Returns whether anything changed. */
  merge(other: PNCounter): boolean {
    let changed = false;
    for (const [replica, theirs] of other.totals) {
      const mine = this.totals.get(replica);
      if (!mine) {
        this.totals.set(replica, { increments: theirs.increments, decrements: theirs.decrements });
        changed = true;
        continue;
      }
      if (theirs.increments > mine.increments) {
        mine.increments = theirs.increments;
        changed = true;
      }
      if (theirs.decrements > mine.decrements) {
        mine.decrements = theirs.decrements;
        changed = true;
      }
    }
    return changed;
  }

  /** An independent copy. */
  clone(): PNCounter {
    const copy = new PNCounter();
    for (const [replica, t] of this.totals) copy.totals.set(replica, { increments: t.increments, decrements: t.decrements });
    return copy;
  }

  /** Writes the canonical encoding (docs/CRDT.md, "PNCounter"). */
  writeTo(enc: Encoder): void {
    enc.writeVarUint(this.totals.size);
    if (this.totals.size === 1) {
      // The common case needs no sorting (and no array).
      for (const [replica, t] of this.totals) writeEntry(enc, replica, t);
      return;
    }
    for (const replica of this.replicas()) writeEntry(enc, replica, this.totals.get(replica)!);
  }

  /** Reads what `writeTo` wrote; throws `MalformedPayload` for a bad replica id, unsorted replicas or an all-zero entry. */
  static readFrom(dec: Decoder): PNCounter {
    const counter = new PNCounter();
    const count = readCount(dec, 4, 'PNCounter');
    let previous: string | undefined;
    for (let i = 0; i < count; i++) {
      const at = dec.offset;
      const replica = readUtf8(dec);
      if (!isReplicaId(replica)) throw new TidalError('MalformedPayload', `PNCounter replica id at offset ${at} is not a valid replica id`);
      if (previous !== undefined && previous >= replica) {
        throw new TidalError('MalformedPayload', `PNCounter replicas are not strictly increasing at offset ${at}`);
      }
      previous = replica;
      const increments = dec.readVarUint();
      const decrements = dec.readVarUint();
      if (increments === 0 && decrements === 0) {
        throw new TidalError('MalformedPayload', `PNCounter entry for ${replica} at offset ${at} is all zero (not canonical)`);
      }
      counter.totals.set(replica, { increments, decrements });
    }
    return counter;
  }

  /** The canonical bytes of this counter alone. */
  encode(): Uint8Array {
    const enc = new Encoder(16 + this.totals.size * 16);
    this.writeTo(enc);
    return enc.toBytes();
  }

  /** Decodes `encode()`'s bytes; trailing bytes are refused (`MalformedPayload`). */
  static decode(bytes: Uint8Array): PNCounter {
    const dec = new Decoder(bytes);
    const counter = PNCounter.readFrom(dec);
    if (dec.remaining !== 0) throw new TidalError('MalformedPayload', `${dec.remaining} trailing bytes after a PNCounter`);
    return counter;
  }
}

function writeEntry(enc: Encoder, replica: ReplicaId, t: MutableTotals): void {
  writeUtf8(enc, replica);
  enc.writeVarUint(t.increments);
  enc.writeVarUint(t.decrements);
}
