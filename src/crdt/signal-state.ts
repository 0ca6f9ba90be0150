/**
 * CrdtSignalState: the mergeable state of one shard. It maps entity keys to
 * `{ counters: kind → PNCounter, fields: name → LWWRegister, sets: name →
 * GSet }`, applies the WAL's operations, merges with another replica's
 * state, and encodes to canonical bytes (docs/CRDT.md): two equal states
 * encode to identical bytes, which is how replicas and tests compare them.
 *
 *     const state = new CrdtSignalState({ clock });
 *     state.apply({ op: 'increment', key: 'item-1', kind: 'click', by: 1, replica: 'tab-a' });
 *     state.merge(CrdtSignalState.decode(bytesFromAPeer));
 *     state.counterValue('item-1', 'click');
 *
 * Every check runs before anything changes: an operation or a merge that
 * throws has changed nothing. With a `clock`, every HLC that enters the
 * state (a stamped operation, the registers of a merged state) first goes
 * through `clock.receive`, so a timestamp too far in the future is refused
 * with `ClockDrift`, and the replica's later writes order after everything
 * it has seen.
 *
 * Within one replication stream the follower applies each operation once
 * (by LSN); across replicas, merge is idempotent, so re-merging counts
 * nothing twice.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { GSet } from './g-set.js';
import type { HLC, HlcTimestamp } from './hlc.js';
import { LWWRegister, retainedValueBytes } from './lww-register.js';
import { validateOperation, type CounterOperation, type CrdtOperation } from './operation.js';
import { PNCounter, type PendingSteps } from './pn-counter.js';
import { SignalEntity, malformed, readEntityRecord, type DecodedEntity } from './signal-entity.js';
import { canonicalValueBytes, compareStrings, ownedValue, readCount, type CrdtValue } from '../common/value.js';

/** Magic of an encoded state: `TDCS`. */
export const STATE_MAGIC = new Uint8Array([0x54, 0x44, 0x43, 0x53]);
/** Version of the state encoding this build writes. It also reads version 1 (docs/CRDT.md, "State"). */
export const STATE_VERSION = 2;

/** @internal `CrdtSignalState.decoder`: a state's bytes decoded as they arrive, front to back (device sync's snapshot parts). */
export interface CrdtStateDecoder {
  /** Decodes what lies wholly within `prefix` (the bytes so far) and was not decoded yet; refuses nothing. */
  advance(prefix: Uint8Array): void;
  /** Decodes the rest of `bytes` (all of them) and returns the state; refuses as `CrdtSignalState.decode` does. */
  finish(bytes: Uint8Array): CrdtSignalState;
}

const EMPTY_COUNTER = new PNCounter();

/** Options of `CrdtSignalState`. */
export interface CrdtSignalStateOptions {
  /** When given, every HLC entering the state is passed to `clock.receive` first (drift check, causality). Default: none. */
  clock?: HLC;
}

/** A read-only snapshot of one entity. */
export interface SignalEntityView {
  /** Counter kind → value: a number, or a bigint past ±(2^53-1) (only merges of several replicas get there). */
  readonly counters: ReadonlyMap<string, number | bigint>;
  /** Field name → value of the winning write. */
  readonly fields: ReadonlyMap<string, CrdtValue>;
  /** Set name → members, in canonical order. */
  readonly sets: ReadonlyMap<string, readonly CrdtValue[]>;
}

/** What `CrdtSignalState.visitEntity` hands an entity's parts to, one call per counter, field and set. */
export interface SignalEntityVisitor {
  /** Counter `kind`'s value: a number, or a bigint past ±(2^53-1). */
  counter(kind: string, value: number | bigint): void;
  /** Field `name`'s winning value. */
  field(name: string, value: CrdtValue): void;
  /** Set `name`'s members, in canonical order. */
  set(name: string, members: readonly CrdtValue[]): void;
}

/** The state of one shard: entity key → counters, fields and sets. */
export class CrdtSignalState {
  private readonly entities = new Map<string, SignalEntity>();
  private readonly clock: HLC | undefined;
  private changes = 0;
  private rejected = 0;

  /** An empty state; with `options.clock`, every HLC entering it is checked and observed by that clock. */
  constructor(options: CrdtSignalStateOptions = {}) {
    this.clock = options.clock;
  }

  /** Number of entities. */
  get size(): number {
    return this.entities.size;
  }

  /** How many operations `apply` refused (and how many merges were refused for clock drift). */
  get rejectedOperations(): number {
    return this.rejected;
  }

  /** Increases with every change; equal values mean nothing changed in between. */
  get changeCount(): number {
    return this.changes;
  }

  /**
   * Applies one operation. Returns whether the state changed (a `set` that
   * loses to the field's current stamp, or an `add` of a member already
   * there, changes nothing). Throws, having changed nothing and counting
   * the refusal: `InvalidArgument` for a malformed operation, `Overflow`
   * for a counter step that would take its replica's total or the
   * counter's value past ±(2^53-1), `Unencodable` for a value outside
   * `CrdtValue`, `ClockDrift` for a stamp too far ahead of the clock.
   *
   * `merged: true` applies an operation of another device's log (device
   * sync) as a merge would: a counter step is refused only for its
   * replica's total, never for the sum, which concurrent devices can take
   * past the range together (docs/CRDT.md, "PNCounter").
   */
  apply(op: CrdtOperation, options: { readonly merged?: boolean } = {}): boolean {
    try {
      return this.applyChecked(op, options.merged === true);
    } catch (error) {
      this.rejected++;
      throw error;
    }
  }

  /**
   * Throws `Overflow` (changing nothing) if the counter step `op` would
   * take its replica's total or the counter's value past ±(2^53-1), with
   * `pending` steps of the same replica on the same counter counted as if
   * applied first. `op` must be valid. A leader calls it before it admits
   * a write, so that no acknowledged step is refused when it is applied.
   */
  checkCounterStep(op: CounterOperation, pending?: PendingSteps): void {
    const counter = this.entities.get(op.key)?.counters?.get(op.kind) ?? EMPTY_COUNTER;
    counter.assertRoom(op.replica, op.by, op.op === 'increment' ? 'increments' : 'decrements', pending);
  }

  /**
   * @internal `apply` for an operation already checked with
   * `validateOperation` (a log event read back by `asLogEvent`, a leader's
   * stamped request), which is not checked again: the same refusals
   * otherwise (counter room, value, clock drift).
   */
  applyValidated(op: CrdtOperation, merged: boolean): boolean {
    try {
      return this.applyValid(op, merged);
    } catch (error) {
      this.rejected++;
      throw error;
    }
  }

  private applyChecked(op: CrdtOperation, merged: boolean): boolean {
    validateOperation(op);
    return this.applyValid(op, merged);
  }

  private applyValid(op: CrdtOperation, merged: boolean): boolean {
    let entity = this.entities.get(op.key);
    switch (op.op) {
      case 'increment':
      case 'decrement': {
        const which = op.op === 'increment' ? 'increments' : 'decrements';
        let counter = entity?.counters?.get(op.kind);
        counter?.assertRoom(op.replica, op.by, which, undefined, !merged);
        if (op.hlc !== undefined) this.clock?.receive(op.hlc);
        entity ??= this.createEntity(op.key);
        if (!counter) {
          counter = new PNCounter();
          (entity.counters ??= new Map()).set(op.kind, counter);
        }
        counter.addChecked(op.replica, op.by, which);
        entity.version = ++this.changes;
        return true;
      }
      case 'set': {
        const bytes = retainedValueBytes(op.value); // checks the value; kept only for a structured one
        this.clock?.receive(op.hlc);
        const register = entity?.fields?.get(op.field);
        if (register) {
          if (!register.offer(op.value, bytes, op.hlc, op.replica, true)) return false;
        } else {
          entity ??= this.createEntity(op.key);
          const value = bytes ? ownedValue(op.value, bytes) : op.value;
          (entity.fields ??= new Map()).set(op.field, LWWRegister.fromTrusted(value, bytes, op.hlc, op.replica));
        }
        entity!.version = ++this.changes;
        return true;
      }
      case 'add': {
        const bytes = canonicalValueBytes(op.member);
        if (op.hlc !== undefined) this.clock?.receive(op.hlc);
        let set = entity?.sets?.get(op.set);
        if (set?.addEncoded(op.member, bytes) === false) return false;
        if (!set) {
          entity ??= this.createEntity(op.key);
          set = new GSet();
          set.addEncoded(op.member, bytes);
          (entity.sets ??= new Map()).set(op.set, set);
        }
        entity!.version = ++this.changes;
        return true;
      }
    }
  }

  private createEntity(key: string): SignalEntity {
    const entity = new SignalEntity();
    this.entities.set(key, entity);
    return entity;
  }

  /**
   * Merges `other` into this state (counters per-replica max, registers by
   * greater stamp, sets by union). Returns whether anything changed.
   * Throws `ClockDrift` (having changed nothing) when this state has a
   * clock and `other` holds a timestamp too far ahead of it.
   */
  merge(other: CrdtSignalState): boolean {
    if (other === this) return false;
    if (this.clock) {
      let max = 0n;
      for (const entity of other.entities.values()) {
        const m = entity.maxHlc();
        if (m > max) max = m;
      }
      this.observe(max);
    }
    let changed = false;
    for (const [key, theirs] of other.entities) changed = this.mergeEntity(key, theirs, false) || changed;
    return changed;
  }

  /** @internal Merges decoded entity records, all or nothing (the clock check comes first). Returns the keys that changed. */
  mergeDecoded(records: readonly DecodedEntity[]): string[] {
    if (this.clock) {
      let max = 0n;
      for (const { entity } of records) {
        const m = entity.maxHlc();
        if (m > max) max = m;
      }
      this.observe(max);
    }
    const changed: string[] = [];
    for (const { key, entity } of records) if (this.mergeEntity(key, entity, true)) changed.push(key);
    return changed;
  }

  private observe(max: HlcTimestamp): void {
    if (max === 0n || !this.clock) return;
    try {
      this.clock.receive(max);
    } catch (error) {
      this.rejected++;
      throw error;
    }
  }

  private mergeEntity(key: string, theirs: SignalEntity, adopt: boolean): boolean {
    const mine = this.entities.get(key);
    if (!mine) {
      const entity = adopt ? theirs : theirs.clone();
      entity.version = ++this.changes;
      this.entities.set(key, entity);
      return true;
    }
    if (!mine.merge(theirs, adopt)) return false;
    mine.version = ++this.changes;
    return true;
  }

  /** True when entity `key` exists. */
  has(key: string): boolean {
    return this.entities.has(key);
  }

  /** The entity keys, in canonical (UTF-16 code unit) order. */
  keys(): string[] {
    return [...this.entities.keys()].sort(compareStrings);
  }

  /** The entity keys that start with `prefix`, in canonical order (only those are sorted: a scan of a few among many). */
  keysWithPrefix(prefix: string): string[] {
    const keys: string[] = [];
    for (const key of this.entities.keys()) if (key.startsWith(prefix)) keys.push(key);
    // The default order of strings is code-unit order, compareStrings' own, compared without a call per pair.
    return keys.sort();
  }

  /** A read-only snapshot of entity `key`, or undefined. */
  entity(key: string): SignalEntityView | undefined {
    const e = this.entities.get(key);
    if (!e) return undefined;
    // Filled in place: a scan reads every entity of a shard this way.
    const counters = new Map<string, number | bigint>();
    if (e.counters) for (const [kind, counter] of e.counters) counters.set(kind, counter.exactValue());
    const fields = new Map<string, CrdtValue>();
    if (e.fields) for (const [name, register] of e.fields) fields.set(name, register.value);
    const sets = new Map<string, readonly CrdtValue[]>();
    if (e.sets) for (const [name, set] of e.sets) sets.set(name, set.values());
    return { counters, fields, sets };
  }

  /**
   * Hands entity `key`'s parts to `visit` (counters, then fields, then
   * sets); false when it does not exist. What `entity` reads, with no view
   * of `Map`s built: a scan reads every entity of a shard this way, and the
   * maps and their entries were most of what it allocated (and the garbage
   * collector most of its time in the peers reader's profile).
   */
  visitEntity(key: string, visit: SignalEntityVisitor): boolean {
    const e = this.entities.get(key);
    if (!e) return false;
    e.counters?.forEach((counter, kind) => visit.counter(kind, counter.exactValue()));
    e.fields?.forEach((register, name) => visit.field(name, register.value));
    e.sets?.forEach((set, name) => visit.set(name, set.values()));
    return true;
  }

  /**
   * @internal Entity `key`'s own record, or undefined: read-only, for a
   * scan's columns (`entityColumns` in src/worker/entity.ts), which walk
   * its maps in a plain loop rather than a visitor's callbacks.
   */
  entityRecord(key: string): Readonly<SignalEntity> | undefined {
    return this.entities.get(key);
  }

  /** The value of counter `kind` of entity `key` (0 when it does not exist). */
  counterValue(key: string, kind: string): number {
    return this.entities.get(key)?.counters?.get(kind)?.value() ?? 0;
  }

  /** A copy of counter `kind` of entity `key`, with its per-replica totals. */
  counter(key: string, kind: string): PNCounter | undefined {
    return this.entities.get(key)?.counters?.get(kind)?.clone();
  }

  /** The value of field `name` of entity `key`, or undefined when it was never set. */
  fieldValue(key: string, name: string): CrdtValue | undefined {
    return this.entities.get(key)?.fields?.get(name)?.value;
  }

  /** A copy of field `name`'s register (value, HLC, replica). */
  field(key: string, name: string): LWWRegister | undefined {
    return this.entities.get(key)?.fields?.get(name)?.clone();
  }

  /** The members of set `name` of entity `key`, in canonical order (empty when it does not exist). */
  setMembers(key: string, name: string): CrdtValue[] {
    return this.entities.get(key)?.sets?.get(name)?.values() ?? [];
  }

  /** True when set `name` of entity `key` holds `member`. */
  hasMember(key: string, name: string, member: CrdtValue): boolean {
    return this.entities.get(key)?.sets?.get(name)?.has(member) ?? false;
  }

  /** An independent copy, sharing this state's clock. */
  clone(): CrdtSignalState {
    const copy = new CrdtSignalState(this.clock ? { clock: this.clock } : {});
    for (const [key, entity] of this.entities) copy.entities.set(key, entity.clone());
    copy.changes = this.changes;
    return copy;
  }

  /** The canonical bytes of the whole state (docs/CRDT.md, "State"). Equal states give identical bytes. */
  encode(): Uint8Array {
    const enc = new Encoder(64 + this.entities.size * 64);
    this.encodeInto(enc);
    return enc.toBytes();
  }

  /** Writes `encode()`'s bytes to `enc`, after what it holds (a sync snapshot's body takes them behind its header: no copy of them). */
  encodeInto(enc: Encoder): void {
    enc.writeRaw(STATE_MAGIC);
    enc.writeU8(STATE_VERSION);
    enc.writeVarUint(this.entities.size);
    for (const key of this.keys()) this.entities.get(key)!.writeTo(enc, key);
  }

  /** True when both states encode to the same bytes. */
  equals(other: CrdtSignalState): boolean {
    const a = this.encode();
    const b = other.encode();
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /**
   * Decodes `encode()`'s bytes. Throws `BadMagic`, `UnsupportedVersion`,
   * `Truncated`, `LengthOutOfBounds` or `MalformedPayload` (unsorted or
   * repeated keys, an invalid id or name, an empty entity, trailing bytes);
   * it never reads past the end and returns nothing partial. With a
   * `clock`, the greatest HLC in the state goes through `clock.receive`
   * (`ClockDrift` if it is too far ahead).
   */
  static decode(bytes: Uint8Array, options: CrdtSignalStateOptions = {}): CrdtSignalState {
    return CrdtSignalState.decoder(options).finish(bytes);
  }

  /**
   * @internal Decodes `encode()`'s bytes as they arrive, front to back (a snapshot
   * read in parts, docs/SYNC.md §9): `advance(prefix)` decodes the entity
   * records that lie wholly within the bytes so far, `finish(bytes)` the
   * rest once all of them are in, with `decode`'s checks, errors and result.
   * Each call is given the same bytes, longer (a view from the same start).
   * A record decoded from a prefix reads only bytes of it, which are final,
   * so the state is the one `decode` makes of the whole; whatever does not
   * decode from a prefix (a record cut at its end, a bound checked against
   * the bytes left, a refusal) is tried again with more, and only `finish`
   * refuses, nothing partial returned.
   */
  static decoder(options: CrdtSignalStateOptions = {}): CrdtStateDecoder {
    let state: CrdtSignalState | undefined;
    let version = 0;
    let count = 0;
    let decoded = 0;
    let offset = 0;
    let previous: string | undefined;
    const read = (bytes: Uint8Array): CrdtSignalState => {
      const dec = new Decoder(bytes);
      dec.offset = offset;
      if (!state) {
        const magic = dec.readRaw(4);
        if (magic[0] !== STATE_MAGIC[0] || magic[1] !== STATE_MAGIC[1] || magic[2] !== STATE_MAGIC[2] || magic[3] !== STATE_MAGIC[3]) {
          throw new TidalError('BadMagic', 'encoded CRDT state does not start with TDCS');
        }
        const v = dec.readU8();
        if (v !== STATE_VERSION && v !== 1) {
          throw new TidalError(
            'UnsupportedVersion',
            `encoded CRDT state has version ${v}; this build reads versions 1 and ${STATE_VERSION}`,
            {
              details: { version: v },
            },
          );
        }
        // An entity record is at least a 2-byte key and three counts.
        count = readCount(dec, 5, 'state');
        version = v;
        state = new CrdtSignalState(options);
        offset = dec.offset;
      }
      for (; decoded < count; decoded++) {
        const at = dec.offset;
        const { key, entity } = readEntityRecord(dec, version);
        if (previous !== undefined && compareStrings(previous, key) >= 0) throw malformed('entity keys are not strictly increasing', at);
        previous = key;
        entity.version = ++state.changes;
        state.entities.set(key, entity);
        offset = dec.offset;
      }
      return state;
    };
    return {
      advance(prefix: Uint8Array): void {
        try {
          read(prefix);
        } catch {
          // Not decodable from this prefix (yet): tried again with more, refused by `finish` if still so.
        }
      },
      finish(bytes: Uint8Array): CrdtSignalState {
        const done = read(bytes);
        if (offset !== bytes.byteLength) throw malformed(`${bytes.byteLength - offset} trailing bytes after the last entity`, offset);
        if (options.clock) {
          let max = 0n;
          for (const entity of done.entities.values()) {
            const m = entity.maxHlc();
            if (m > max) max = m;
          }
          if (max !== 0n) options.clock.receive(max);
        }
        return done;
      },
    };
  }

  /** @internal The current entity objects, for the reconciliation engine's digest index. Do not mutate. */
  entityEntries(): IterableIterator<[string, SignalEntity]> {
    return this.entities.entries();
  }

  /** @internal The entity object of `key`, for the reconciliation engine. Do not mutate. */
  entityObject(key: string): SignalEntity | undefined {
    return this.entities.get(key);
  }
}
