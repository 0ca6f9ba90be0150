/**
 * LWWRegister: a last-writer-wins value. It holds one value stamped with
 * the (HLC, replica id) of the write that set it; a write or a merge keeps
 * whichever stamp is greater. Two writes with the same (HLC, replica) but
 * different values can only come from a misbehaving replica; the register
 * then keeps the value with the greater canonical bytes (and of two equal
 * values, say `0` and `-0`, the one with the greater exact bytes), so that
 * merge stays commutative whatever happens.
 *
 * The value is kept exactly as written (docs/PAYLOAD.md, the exact form):
 * `-0`, `NaN` and the order of an object's keys read back as they were.
 * A register keeps the value's exact-form bytes only for a structured
 * value (object, array, bytes), which it copies and compares by; for a
 * primitive (a label, a number), the bulk of what a shard holds, the bytes
 * are made again when a tie or an encoding needs them.
 *
 *     const label = LWWRegister.of('spam', clock.now(), 'tab-a');
 *     label.set('ham', clock.now(), 'tab-a'); // true: a later stamp wins
 *     label.merge(fromAPeer);
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { assertHlcTimestamp, type HlcTimestamp } from './hlc.js';
import { assertReplicaId, isReplicaId, type ReplicaId } from './replica-id.js';
import {
  canonicalValueBytes,
  compareBytes,
  decodeValue,
  MAX_VALUE_DEPTH,
  exactValueBytes,
  ownedValue,
  encodeValue,
  isWellFormedString,
  readExactValue,
  readUtf8,
  writeUtf8,
  type CrdtValue,
  type Value,
} from '../common/value.js';

/** A value with the (HLC, replica) stamp of the write that set it. */
export class LWWRegister {
  private current: CrdtValue;
  /** Exact-form bytes of `current` when it is structured (see `retainedValueBytes`), else `undefined`. */
  private currentBytes: Uint8Array | undefined;
  private stamp: HlcTimestamp;
  private writer: ReplicaId;

  private constructor(value: CrdtValue, bytes: Uint8Array | undefined, hlc: HlcTimestamp, replica: ReplicaId) {
    this.current = value;
    this.currentBytes = bytes;
    this.stamp = hlc;
    this.writer = replica;
  }

  /** A register holding `value` as written at (`hlc`, `replica`). Throws `InvalidArgument` for a bad stamp, `Unencodable` for a value outside `CrdtValue`. The value is copied. */
  static of(value: CrdtValue, hlc: HlcTimestamp, replica: ReplicaId): LWWRegister {
    assertHlcTimestamp(hlc);
    assertReplicaId(replica);
    const bytes = retainedValueBytes(value);
    return new LWWRegister(bytes ? ownedValue(value, bytes) : value, bytes, hlc, replica);
  }

  /** @internal A register from parts already validated (the value owned, `bytes` what `retainedValueBytes` gave for it). */
  static fromTrusted(value: CrdtValue, bytes: Uint8Array | undefined, hlc: HlcTimestamp, replica: ReplicaId): LWWRegister {
    return new LWWRegister(value, bytes, hlc, replica);
  }

  /** The value of the winning write. Read-only: do not mutate it. */
  get value(): CrdtValue {
    return this.current;
  }

  /** The HLC of the winning write. */
  get hlc(): HlcTimestamp {
    return this.stamp;
  }

  /** The replica of the winning write. */
  get replica(): ReplicaId {
    return this.writer;
  }

  /** The exact-form bytes of the value (read-only view). */
  get valueBytes(): Uint8Array {
    return this.currentBytes ?? exactValueBytes(this.current);
  }

  /** Writes `value` at (`hlc`, `replica`) if that stamp beats the current one. Returns whether the register changed. Same checks as `of`. */
  set(value: CrdtValue, hlc: HlcTimestamp, replica: ReplicaId): boolean {
    assertHlcTimestamp(hlc);
    assertReplicaId(replica);
    return this.offer(value, retainedValueBytes(value), hlc, replica, true);
  }

  /** Keeps the greater of the two writes. Returns whether this register changed. */
  merge(other: LWWRegister): boolean {
    return this.offer(other.current, other.currentBytes, other.stamp, other.writer, false);
  }

  /**
   * @internal Takes a validated write if it wins; `bytes` is what
   * `retainedValueBytes` gave for `value`, `copy` says whether a
   * structured value must be copied first.
   */
  offer(value: CrdtValue, bytes: Uint8Array | undefined, hlc: HlcTimestamp, replica: ReplicaId, copy: boolean): boolean {
    if (!beats(hlc, replica, value, bytes, this.stamp, this.writer, this.current, this.currentBytes)) return false;
    this.current = copy && bytes ? ownedValue(value, bytes) : value;
    this.currentBytes = bytes;
    this.stamp = hlc;
    this.writer = replica;
    return true;
  }

  /** An independent copy (values are never mutated in place, so they are shared). */
  clone(): LWWRegister {
    return new LWWRegister(this.current, this.currentBytes, this.stamp, this.writer);
  }

  /** Writes the encoding: HLC (u64), replica id, value in the exact form (docs/CRDT.md, "LWWRegister"). */
  writeTo(enc: Encoder): void {
    enc.writeU64(this.stamp);
    writeUtf8(enc, this.writer);
    if (this.currentBytes) enc.writeRaw(this.currentBytes);
    else encodeValue(enc, this.current as Value, MAX_VALUE_DEPTH); // the exact form, as exactValueBytes writes it
  }

  /**
   * Reads what `writeTo` wrote; throws `MalformedPayload` for a bad replica
   * id or a value not in the exact form. `legacy` reads a state of version
   * 1, whose values were in the old canonical form (any well-formed value
   * is taken, and held in the exact form).
   */
  static readFrom(dec: Decoder, legacy = false): LWWRegister {
    const hlc = dec.readU64();
    const at = dec.offset;
    const replica = readUtf8(dec);
    if (!isReplicaId(replica)) throw new TidalError('MalformedPayload', `LWWRegister replica id at offset ${at} is not a valid replica id`);
    if (legacy) {
      const value = decodeValue(dec, MAX_VALUE_DEPTH);
      return new LWWRegister(value, retainedValueBytes(value), hlc, replica);
    }
    const start = dec.offset;
    const value = readExactValue(dec);
    // Only a structured value keeps its bytes (a copy: the decoder's buffer is not ours).
    return new LWWRegister(value, isStructured(value) ? dec.bytes.slice(start, dec.offset) : undefined, hlc, replica);
  }

  /** The encoding of this register alone. */
  encode(): Uint8Array {
    const enc = new Encoder(32 + (this.currentBytes?.length ?? 16));
    this.writeTo(enc);
    return enc.toBytes();
  }

  /** Decodes `encode()`'s bytes; trailing bytes are refused (`MalformedPayload`). */
  static decode(bytes: Uint8Array): LWWRegister {
    const dec = new Decoder(bytes);
    const register = LWWRegister.readFrom(dec);
    if (dec.remaining !== 0) throw new TidalError('MalformedPayload', `${dec.remaining} trailing bytes after an LWWRegister`);
    return register;
  }
}

/** True when write a = (hlc, replica, value) beats write b: greater stamp, then greater canonical bytes, then greater exact bytes. */
function beats(
  aHlc: HlcTimestamp,
  aReplica: ReplicaId,
  aValue: CrdtValue,
  aBytes: Uint8Array | undefined,
  bHlc: HlcTimestamp,
  bReplica: ReplicaId,
  bValue: CrdtValue,
  bBytes: Uint8Array | undefined,
): boolean {
  if (aHlc !== bHlc) return aHlc > bHlc;
  if (aReplica !== bReplica) return aReplica > bReplica;
  // The same stamp twice: the same write again (most often), or a misbehaving replica.
  const exact = compareBytes(aBytes ?? exactValueBytes(aValue), bBytes ?? exactValueBytes(bValue));
  if (exact === 0) return false;
  const canonical = compareBytes(canonicalValueBytes(aValue), canonicalValueBytes(bValue));
  return canonical !== 0 ? canonical > 0 : exact > 0;
}

function isStructured(value: CrdtValue): boolean {
  return typeof value === 'object' && value !== null;
}

/**
 * @internal The exact-form bytes a register keeps with `value`: those of a
 * structured value (object, array, bytes), `undefined` for a primitive.
 * Throws `Unencodable` for a value outside `CrdtValue`, as
 * `exactValueBytes` does, in either case.
 */
export function retainedValueBytes(value: CrdtValue): Uint8Array | undefined {
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return undefined;
    case 'string':
      if (isWellFormedString(value)) return undefined;
      break;
    case 'object':
      if (value === null) return undefined;
      break;
  }
  const bytes = exactValueBytes(value); // refuses what cannot be stored (a lone surrogate, a bigint too large, ...)
  return isStructured(value) ? bytes : undefined;
}
