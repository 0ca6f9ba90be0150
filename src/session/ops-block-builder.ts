/**
 * `OpsBlockV3Builder`: a version-3 operations block (ops-block-v3.ts,
 * docs/WRITE-EVENTS.md) written one operation at a time, straight from a
 * call's arguments, with no operation object in between: `db.transact`
 * keeps one builder per shard it touches and encodes each `tx.increment` /
 * `tx.set` into it as it is called. The bytes are exactly those of
 * `encodeOpsBlockV3` over the same operations (which is this builder run
 * over a list).
 *
 *     const builder = new OpsBlockV3Builder();
 *     builder.counter('increment', 'item-1', 'click', 1);
 *     builder.set('item-1', 'label', 'cats');
 *     const block = builder.finish(); // a fresh buffer of exactly its size (finishView: no copy)
 *
 * It checks nothing: callers check each operation first
 * (`validateCounterArgs`, `validateValueArgs` in write.ts). An operation
 * whose encoding throws (a value the checks let through and the codec
 * refuses) leaves the block as it was before it.
 */
import { Encoder } from '../common/bytes.js';
import { MAX_VALUE_DEPTH, encodeValue } from '../common/value.js';
import { MAX_ENTITY_KEY_LENGTH } from '../crdt/operation.js';
import type { Value } from '../wal/payload.js';

/** The first byte of a version-3 block. */
export const OPS_BLOCK_V3 = 3;
/** Operation codes (the head's low two bits), in the order of `OPCODES` of the decoder. */
const INCREMENT = 0;
const DECREMENT = 1;
const SET = 2;
const ADD = 3;
/** The value (set) or member (add) is a string of the table. */
export const HEAD_STRING_VALUE = 0b0000_0100;
/** Longest string the table holds: a string value longer than this is encoded as a payload value. */
export const MAX_TABLE_STRING = MAX_ENTITY_KEY_LENGTH;
/** Room left before the operations for the version byte and the count (at most 10,000: two LEB128 bytes). */
const HEADER_ROOM = 3;

/** Builds one version-3 block, an operation at a time. */
export class OpsBlockV3Builder {
  /** Operations added so far. */
  count = 0;
  /** What the caller counts against a write's bound (`MAX_WRITE_BYTES`); the builder only keeps it. */
  bytes = 0;
  private readonly encoder: Encoder;
  /**
   * The block's table: its strings by index, and the index of each by a
   * hash of its UTF-16 code units (`tableHash`). A `Map` keyed by the
   * strings themselves hashed every fresh key string with V8's string hash
   * (a runtime call per string never hashed before, which every key a caller
   * builds is): 265 of 360 samples of `writeString` in the peers writer
   * tab's profile (tidal_batched, 04:29 UTC) were that lookup. A number key
   * hashes at once.
   */
  private readonly strings: string[] = [];
  private readonly byHash = new Map<number, number>();
  /** Strings whose hash an earlier, different string of the table has: by the string (rare). */
  private collided: Map<string, number> | undefined;
  /** The string spelled last (the next one is front-coded against it). */
  private previous = '';
  /** Where the operation being added started, the string spelled before it and the table's size then (to undo it). */
  private startLength = 0;
  private startPrevious = '';
  private startStrings = 0;

  /** An empty block; `encoder` (reset here) lends its buffer, e.g. one reused between blocks. */
  constructor(encoder: Encoder = new Encoder(4096)) {
    this.encoder = encoder;
    encoder.reset();
    encoder.length = HEADER_ROOM;
  }

  /** Adds `increment` or `decrement` of `by` to counter `kind` of `key`. */
  counter(op: 'increment' | 'decrement', key: string, kind: string, by: number): void {
    this.begin();
    try {
      this.encoder.writeU8(op === 'increment' ? INCREMENT : DECREMENT);
      this.writeString(key);
      this.writeString(kind);
      this.encoder.writeVarUint(by);
    } catch (error) {
      this.undo();
      throw error;
    }
    this.count++;
  }

  /** Adds `set` of field `field` of `key` to `value`. */
  set(key: string, field: string, value: Value): void {
    this.valued(SET, key, field, value, 'value');
  }

  /** Adds `add` of `member` to set `set` of `key`. */
  add(key: string, set: string, member: Value): void {
    this.valued(ADD, key, set, member, 'member');
  }

  /** The block: a fresh buffer of exactly its size. The builder is spent (its encoder may be reused). */
  finish(): Uint8Array {
    return this.finishView().slice();
  }

  /**
   * The block as a view of the encoder's buffer, not copied: for a builder
   * that owns its encoder (the default), whose buffer nothing writes again.
   * The builder is spent.
   */
  finishView(): Uint8Array {
    const e = this.encoder;
    const end = e.length;
    // The header goes right before the operations: 2 bytes for fewer than 128, else 3.
    const from = this.count < 0x80 ? 1 : 0;
    e.length = from;
    e.writeU8(OPS_BLOCK_V3);
    e.writeVarUint(this.count);
    e.length = end;
    return e.bytesView().subarray(from);
  }

  private valued(opcode: number, key: string, name: string, value: Value, part: 'value' | 'member'): void {
    const stringValue = typeof value === 'string' && value.length <= MAX_TABLE_STRING;
    this.begin();
    try {
      this.encoder.writeU8(opcode | (stringValue ? HEAD_STRING_VALUE : 0));
      this.writeString(key);
      this.writeString(name);
      if (stringValue) this.writeString(value);
      else encodeValue(this.encoder, value, MAX_VALUE_DEPTH, part);
    } catch (error) {
      this.undo();
      throw error;
    }
    this.count++;
  }

  /** The table's strings: a first use spells it, front-coded against the string spelled before; a later use names it. */
  private writeString(text: string): void {
    const encoder = this.encoder;
    const hash = tableHash(text);
    const index = this.indexOf(text, hash);
    if (index !== undefined) {
      encoder.writeVarUint(index + 1);
      return;
    }
    let shared = commonPrefix(this.previous, text);
    if (shared > 0 && isHighSurrogate(text.charCodeAt(shared - 1))) shared--; // never split a surrogate pair
    encoder.writeU8(0);
    encoder.writeVarUint(shared);
    encoder.writeStringFrom(text, shared);
    const added = this.strings.push(text) - 1;
    if (this.byHash.has(hash)) (this.collided ??= new Map()).set(text, added);
    else this.byHash.set(hash, added);
    this.previous = text;
  }

  /** The index of `text` (whose `tableHash` is `hash`) in the table, if it is there. */
  private indexOf(text: string, hash: number): number | undefined {
    const index = this.byHash.get(hash);
    if (index === undefined) return undefined;
    return this.strings[index] === text ? index : this.collided?.get(text);
  }

  private begin(): void {
    this.startLength = this.encoder.length;
    this.startPrevious = this.previous;
    this.startStrings = this.strings.length;
  }

  private undo(): void {
    this.encoder.length = this.startLength;
    this.previous = this.startPrevious;
    while (this.strings.length > this.startStrings) {
      const index = this.strings.length - 1;
      const text = this.strings.pop()!;
      const hash = tableHash(text);
      if (this.byHash.get(hash) === index) this.byHash.delete(hash);
      else this.collided?.delete(text);
    }
  }
}

/** FNV-1a over the UTF-16 code units, kept to 30 bits (a small integer, which a `Map` hashes without a call). */
function tableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** True for the first half of a surrogate pair. */
export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
