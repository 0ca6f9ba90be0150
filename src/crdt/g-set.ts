/**
 * GSet: a grow-only set. Members are values compared by their canonical
 * bytes (docs/PAYLOAD.md §3: `{a: 1, b: 2}` and `{b: 2, a: 1}` are one
 * member, so are `0` and `-0`, and `NaN` is one member), and a set holds
 * each member as its canonical representative (keys in code point order,
 * `-0` as `0`), as JavaScript's own `Set` holds `-0` as `0`. Merge is
 * union, so a member added on any replica is never lost. Forage keeps hard
 * negatives in one: once a replica marks an item as a hard negative, every
 * replica that merges ends up with it.
 *
 *     const negatives = new GSet();
 *     negatives.add('item-42');
 *     negatives.merge(fromAPeer);
 *     negatives.has('item-42'); // true, forever
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import {
  bytesKey,
  canonicalValue,
  canonicalValueBytes,
  compareBytes,
  decodeCanonicalValue,
  decodeValue,
  MAX_VALUE_DEPTH,
  readCount,
  type CrdtValue,
} from '../common/value.js';

interface Member {
  /** The canonical representative. */
  readonly value: CrdtValue;
  /** Its canonical bytes. */
  readonly bytes: Uint8Array;
}

/** A grow-only set of `CrdtValue`s. */
export class GSet {
  /** Keyed by the member's canonical bytes (as a string). */
  private readonly members = new Map<string, Member>();

  /** Adds `member` (its canonical representative, a copy). Returns whether it was new. Throws `Unencodable` for a value outside `CrdtValue`. */
  add(member: CrdtValue): boolean {
    const bytes = canonicalValueBytes(member);
    return this.addEncoded(member, bytes);
  }

  /** @internal Adds a member whose canonical bytes are known. */
  addEncoded(member: CrdtValue, bytes: Uint8Array): boolean {
    const key = bytesKey(bytes);
    if (this.members.has(key)) return false;
    this.members.set(key, { value: canonicalValue(member, bytes), bytes });
    return true;
  }

  /** True when `member` (by canonical bytes) is in the set. Throws `Unencodable` for a value outside `CrdtValue`. */
  has(member: CrdtValue): boolean {
    return this.members.has(bytesKey(canonicalValueBytes(member)));
  }

  /** Number of members. */
  get size(): number {
    return this.members.size;
  }

  /** The members in canonical order (by their bytes). Read-only: do not mutate them. */
  values(): CrdtValue[] {
    return this.sorted().map((m) => m.value);
  }

  /** Adds every member of `other`. Returns whether anything was added. */
  merge(other: GSet): boolean {
    let changed = false;
    for (const [key, member] of other.members) {
      if (this.members.has(key)) continue;
      this.members.set(key, member);
      changed = true;
    }
    return changed;
  }

  /** An independent copy (members are never mutated, so they are shared). */
  clone(): GSet {
    const copy = new GSet();
    for (const [key, member] of this.members) copy.members.set(key, member);
    return copy;
  }

  private sorted(): Member[] {
    return [...this.members.values()].sort((a, b) => compareBytes(a.bytes, b.bytes));
  }

  /** Writes the canonical encoding: count, then members sorted by their canonical bytes (docs/CRDT.md, "GSet"). */
  writeTo(enc: Encoder): void {
    const sorted = this.sorted();
    enc.writeVarUint(sorted.length);
    for (const member of sorted) enc.writeRaw(member.bytes);
  }

  /**
   * Reads what `writeTo` wrote; throws `MalformedPayload` for members out
   * of order, repeated or not in canonical form. `legacy` reads a state of
   * version 1, whose members were in another canonical form: each is read
   * as a value and re-canonicalized (two old members may then become one).
   */
  static readFrom(dec: Decoder, legacy = false): GSet {
    const set = new GSet();
    const count = readCount(dec, 1, 'GSet');
    let previous: Uint8Array | undefined;
    for (let i = 0; i < count; i++) {
      const start = dec.offset;
      if (legacy) {
        set.add(decodeValue(dec, MAX_VALUE_DEPTH));
        continue;
      }
      const { value, bytes } = decodeCanonicalValue(dec);
      if (previous !== undefined && compareBytes(previous, bytes) >= 0) {
        throw new TidalError('MalformedPayload', `GSet members are not strictly increasing at offset ${start}`);
      }
      previous = bytes;
      set.members.set(bytesKey(bytes), { value, bytes });
    }
    return set;
  }

  /** The canonical bytes of this set alone. */
  encode(): Uint8Array {
    const enc = new Encoder(64);
    this.writeTo(enc);
    return enc.toBytes();
  }

  /** Decodes `encode()`'s bytes; trailing bytes are refused (`MalformedPayload`). */
  static decode(bytes: Uint8Array): GSet {
    const dec = new Decoder(bytes);
    const set = GSet.readFrom(dec);
    if (dec.remaining !== 0) throw new TidalError('MalformedPayload', `${dec.remaining} trailing bytes after a GSet`);
    return set;
  }
}
