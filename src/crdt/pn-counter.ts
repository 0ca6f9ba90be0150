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

/**
 * A grow-only pair of per-replica totals: increments and decrements.
 *
 * Held flat, because a shard holds one per entity and counter kind and
 * nearly all of them are only ever counted by one replica (a follower tab
 * holds tens of thousands): the first replica's totals are fields of the
 * counter itself, any further replica's a triple `[replica, increments,
 * decrements]` in `more`. No `Map` per counter, no object per replica.
 */
export class PNCounter {
  /** The first replica to count here (`undefined` while none has). */
  private replica0: ReplicaId | undefined = undefined;
  private increments0 = 0;
  private decrements0 = 0;
  /** Every further replica, as triples `replica, increments, decrements`, in order of arrival. */
  private more: (ReplicaId | number)[] | undefined = undefined;

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
    const current = this.totalOf(replica, which) + (pending ? pending[which] : 0);
    if (current + by > Number.MAX_SAFE_INTEGER) {
      throw new TidalError('Overflow', `replica ${replica}'s ${which} would reach ${current} + ${by}, past 2^53-1`, {
        details: { replica, current, by },
      });
    }
    if (!checkValue) return;
    const pendingNet = pending ? pending.increments - pending.decrements : 0;
    // The common case, in numbers: one replica (its value exact), far from the bounds (sums of safe integers compare exactly with 2^53-1).
    if (this.more === undefined && Math.abs(this.increments0 - this.decrements0) + Math.abs(pendingNet) + by <= Number.MAX_SAFE_INTEGER)
      return;
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
    const increments = which === 'increments';
    if (this.replica0 === replica) {
      if (increments) this.increments0 += by;
      else this.decrements0 += by;
      return;
    }
    if (this.replica0 === undefined) {
      this.replica0 = replica;
      if (increments) this.increments0 = by;
      else this.decrements0 = by;
      return;
    }
    const more = this.more;
    if (more) {
      for (let i = 0; i < more.length; i += 3) {
        if (more[i] !== replica) continue;
        const at = increments ? i + 1 : i + 2;
        more[at] = (more[at] as number) + by;
        return;
      }
    }
    (this.more ??= []).push(replica, increments ? by : 0, increments ? 0 : by);
  }

  private add(replica: ReplicaId, by: number, which: 'increments' | 'decrements'): void {
    this.checkStep(replica, by, which);
    this.addChecked(replica, by, which);
  }

  /** `replica`'s `which` total (0 if it never counted here). */
  private totalOf(replica: ReplicaId, which: 'increments' | 'decrements'): number {
    if (this.replica0 === replica) return which === 'increments' ? this.increments0 : this.decrements0;
    const more = this.more;
    if (more)
      for (let i = 0; i < more.length; i += 3) if (more[i] === replica) return more[which === 'increments' ? i + 1 : i + 2] as number;
    return 0;
  }

  /** How many replicas have counted here. */
  private get replicaCount(): number {
    return this.replica0 === undefined ? 0 : 1 + (this.more ? this.more.length / 3 : 0);
  }

  /** Sets `replica`'s totals (a replica not yet here: reading and copying). */
  private put(replica: ReplicaId, increments: number, decrements: number): void {
    if (this.replica0 === undefined) {
      this.replica0 = replica;
      this.increments0 = increments;
      this.decrements0 = decrements;
    } else (this.more ??= []).push(replica, increments, decrements);
  }

  /** Increments minus decrements over all replicas. Exact while it stays within ±(2^53-1) (always, but after a merge); use `exactValue` to be sure. */
  value(): number {
    let sum = this.increments0 - this.decrements0;
    const more = this.more;
    if (more) for (let i = 0; i < more.length; i += 3) sum += (more[i + 1] as number) - (more[i + 2] as number);
    return sum;
  }

  /** Increments minus decrements over all replicas, exactly: a number within ±(2^53-1), else (only after merges) a bigint. */
  exactValue(): number | bigint {
    if (this.more === undefined) return this.value(); // one difference of two safe integers: exact
    const sum = this.bigValue();
    return sum >= -MAX_SAFE && sum <= MAX_SAFE ? Number(sum) : sum;
  }

  /** Increments minus decrements over all replicas, exactly, as a bigint. */
  bigValue(): bigint {
    if (this.more === undefined) return BigInt(this.value());
    let sum = BigInt(this.increments0) - BigInt(this.decrements0);
    const more = this.more;
    for (let i = 0; i < more.length; i += 3) sum += BigInt(more[i + 1] as number) - BigInt(more[i + 2] as number);
    return sum;
  }

  /** The totals of one replica (zeros if it never counted here). */
  totalsOf(replica: ReplicaId): PNCounterTotals {
    return { increments: this.totalOf(replica, 'increments'), decrements: this.totalOf(replica, 'decrements') };
  }

  /** The replicas that have counted here, in id order. */
  replicas(): ReplicaId[] {
    if (this.replica0 === undefined) return [];
    const replicas = [this.replica0];
    const more = this.more;
    if (more) for (let i = 0; i < more.length; i += 3) replicas.push(more[i] as ReplicaId);
    return replicas.sort(compareStrings);
  }

  /** True when no replica has counted here. */
  get isEmpty(): boolean {
    return this.replica0 === undefined;
  }

  /** Takes, per replica, the larger of each total. Returns whether anything changed. */
  merge(other: PNCounter): boolean {
    if (other.replica0 === undefined) return false;
    let changed = this.mergeTotals(other.replica0, other.increments0, other.decrements0);
    const more = other.more;
    if (more) {
      for (let i = 0; i < more.length; i += 3) {
        changed = this.mergeTotals(more[i] as ReplicaId, more[i + 1] as number, more[i + 2] as number) || changed;
      }
    }
    return changed;
  }

  private mergeTotals(replica: ReplicaId, increments: number, decrements: number): boolean {
    if (this.replica0 === replica) {
      const changed = increments > this.increments0 || decrements > this.decrements0;
      if (increments > this.increments0) this.increments0 = increments;
      if (decrements > this.decrements0) this.decrements0 = decrements;
      return changed;
    }
    const more = this.more;
    if (more) {
      for (let i = 0; i < more.length; i += 3) {
        if (more[i] !== replica) continue;
        const changed = increments > (more[i + 1] as number) || decrements > (more[i + 2] as number);
        if (increments > (more[i + 1] as number)) more[i + 1] = increments;
        if (decrements > (more[i + 2] as number)) more[i + 2] = decrements;
        return changed;
      }
    }
    this.put(replica, increments, decrements);
    return true;
  }

  /** An independent copy. */
  clone(): PNCounter {
    const copy = new PNCounter();
    copy.replica0 = this.replica0;
    copy.increments0 = this.increments0;
    copy.decrements0 = this.decrements0;
    if (this.more) copy.more = this.more.slice();
    return copy;
  }

  /** Writes the canonical encoding (docs/CRDT.md, "PNCounter"). */
  writeTo(enc: Encoder): void {
    enc.writeVarUint(this.replicaCount);
    if (this.replica0 === undefined) return;
    if (this.more === undefined) {
      // The common case needs no sorting (and no array).
      writeEntry(enc, this.replica0, this.increments0, this.decrements0);
      return;
    }
    for (const replica of this.replicas())
      writeEntry(enc, replica, this.totalOf(replica, 'increments'), this.totalOf(replica, 'decrements'));
  }

  /** Reads what `writeTo` wrote; throws `MalformedPayload` for a bad replica id, unsorted replicas or an all-zero entry. */
  static readFrom(dec: Decoder): PNCounter {
    const counter = new PNCounter();
    const count = readCount(dec, 4, 'PNCounter');
    let previous: string | undefined;
    for (let i = 0; i < count; i++) {
      const at = dec.offset;
      const replica = readReplicaId(dec);
      if (previous !== undefined && previous >= replica) {
        throw new TidalError('MalformedPayload', `PNCounter replicas are not strictly increasing at offset ${at}`);
      }
      previous = replica;
      const increments = dec.readVarUint();
      const decrements = dec.readVarUint();
      if (increments === 0 && decrements === 0) {
        throw new TidalError('MalformedPayload', `PNCounter entry for ${replica} at offset ${at} is all zero (not canonical)`);
      }
      counter.put(replica, increments, decrements);
    }
    return counter;
  }

  /** The canonical bytes of this counter alone. */
  encode(): Uint8Array {
    const enc = new Encoder(16 + this.replicaCount * 16);
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

/**
 * Replica ids read lately, as their encoded bytes (length byte and body)
 * and the id: a state names the same few replicas in every counter of
 * every entity, so an id whose bytes match one of these is taken as it is,
 * neither decoded nor checked again (a snapshot's decode spent a third of
 * its time on them).
 */
const recentReplicaIds: { readonly bytes: Uint8Array; readonly id: ReplicaId }[] = [];
const RECENT_REPLICA_IDS = 4;

/** Reads a replica id written by `writeUtf8`, checked (`MalformedPayload`). */
function readReplicaId(dec: Decoder): ReplicaId {
  const at = dec.offset;
  const bytes = dec.bytes;
  const length = bytes[at];
  // Only a one-byte length (ids are at most 64 characters): the bytes are then the id's one encoding.
  if (length !== undefined && length < 0x80 && at + 1 + length <= bytes.length) {
    for (const known of recentReplicaIds) {
      if (known.bytes.length === length + 1 && sameBytesAt(known.bytes, bytes, at)) {
        dec.offset = at + 1 + length;
        return known.id;
      }
    }
  }
  const replica = readUtf8(dec);
  if (!isReplicaId(replica)) throw new TidalError('MalformedPayload', `PNCounter replica id at offset ${at} is not a valid replica id`);
  if (recentReplicaIds.length >= RECENT_REPLICA_IDS) recentReplicaIds.shift();
  recentReplicaIds.push({ bytes: bytes.slice(at, dec.offset), id: replica });
  return replica;
}

/** `known` equals `bytes[at..at + known.length)`. */
function sameBytesAt(known: Uint8Array, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < known.length; i++) if (known[i] !== bytes[at + i]) return false;
  return true;
}

function writeEntry(enc: Encoder, replica: ReplicaId, increments: number, decrements: number): void {
  writeUtf8(enc, replica);
  enc.writeVarUint(increments);
  enc.writeVarUint(decrements);
}
