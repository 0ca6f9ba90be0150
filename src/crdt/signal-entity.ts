/**
 * One entity of a `CrdtSignalState` (its counters, fields and sets) and
 * the codec of its record, the unit that states encode to and that
 * reconciliation exchanges (docs/CRDT.md, "Entity record"): the key, then
 * each kind of component sorted by name. Reading checks everything and
 * never reads past the end; what it returns is owned by the caller.
 *
 *     entity.writeTo(encoder, 'item:42');
 *     const { key, entity } = readEntityRecord(new Decoder(encoder.toBytes()));
 */
import type { Decoder, Encoder } from '../common/bytes.js';
import { TidalError } from '../common/errors.js';
import { GSet } from './g-set.js';
import type { HlcTimestamp } from './hlc.js';
import { LWWRegister } from './lww-register.js';
import { MAX_ENTITY_KEY_LENGTH, MAX_NAME_LENGTH } from './operation.js';
import { PNCounter } from './pn-counter.js';
import { compareStrings, isWellFormedString, readCount, readUtf8, writeUtf8 } from '../common/value.js';

/** @internal One entity's CRDTs. Components are created on first use, so an entity is never empty. */
export class SignalEntity {
  counters: Map<string, PNCounter> | undefined;
  fields: Map<string, LWWRegister> | undefined;
  sets: Map<string, GSet> | undefined;
  /** Changes with every change of the entity (from the state's change counter), for digest caches. */
  version = 0;

  /** Greatest HLC held by the entity's registers (0 if none). */
  maxHlc(): HlcTimestamp {
    let max = 0n;
    if (this.fields) for (const r of this.fields.values()) if (r.hlc > max) max = r.hlc;
    return max;
  }

  /** Merges `other` into this entity; `adopt` lets it take `other`'s components without copying (when `other` is thrown away). */
  merge(other: SignalEntity, adopt: boolean): boolean {
    let changed = false;
    if (other.counters) {
      this.counters ??= new Map();
      for (const [kind, theirs] of other.counters) {
        const mine = this.counters.get(kind);
        if (mine) changed = mine.merge(theirs) || changed;
        else {
          this.counters.set(kind, adopt ? theirs : theirs.clone());
          changed = true;
        }
      }
    }
    if (other.fields) {
      this.fields ??= new Map();
      for (const [name, theirs] of other.fields) {
        const mine = this.fields.get(name);
        if (mine) changed = mine.merge(theirs) || changed;
        else {
          this.fields.set(name, adopt ? theirs : theirs.clone());
          changed = true;
        }
      }
    }
    if (other.sets) {
      this.sets ??= new Map();
      for (const [name, theirs] of other.sets) {
        const mine = this.sets.get(name);
        if (mine) changed = mine.merge(theirs) || changed;
        else {
          this.sets.set(name, adopt ? theirs : theirs.clone());
          changed = true;
        }
      }
    }
    return changed;
  }

  clone(): SignalEntity {
    const copy = new SignalEntity();
    copy.merge(this, false);
    copy.version = this.version;
    return copy;
  }

  /** Writes the entity record (docs/CRDT.md, "Entity record"), key first. */
  writeTo(enc: Encoder, key: string): void {
    writeUtf8(enc, key);
    writeSorted(enc, this.counters, (c) => c.writeTo(enc));
    writeSorted(enc, this.fields, (r) => r.writeTo(enc));
    writeSorted(enc, this.sets, (s) => s.writeTo(enc));
  }
}

function writeSorted<T>(enc: Encoder, map: Map<string, T> | undefined, write: (item: T) => void): void {
  if (!map || map.size === 0) {
    enc.writeU8(0);
    return;
  }
  enc.writeVarUint(map.size);
  if (map.size === 1) {
    for (const [name, item] of map) {
      writeUtf8(enc, name);
      write(item);
    }
    return;
  }
  for (const name of [...map.keys()].sort(compareStrings)) {
    writeUtf8(enc, name);
    write(map.get(name)!);
  }
}

/** @internal An entity record decoded from bytes (owned: safe to adopt). */
export interface DecodedEntity {
  readonly key: string;
  readonly entity: SignalEntity;
}

/** @internal A `MalformedPayload` error at `offset` of a record or state being decoded. */
export function malformed(message: string, offset: number): TidalError {
  return new TidalError('MalformedPayload', `${message} (at offset ${offset})`, { details: { offset } });
}

/** A name or key of 1..`max` well-formed characters; `what` and `suffix` name it in the error (built only then). */
function readText(dec: Decoder, max: number, what: string, suffix = ''): string {
  const at = dec.offset;
  const text = readUtf8(dec);
  if (text.length === 0 || text.length > max || !isWellFormedString(text)) {
    throw malformed(`${what}${suffix} must be 1..${max} well-formed characters`, at);
  }
  return text;
}

/**
 * A sorted map of `what`s, each read by `read` (a module function, not a
 * closure: a snapshot of many entities reads three maps per entity).
 */
function readSorted<T>(
  dec: Decoder,
  what: string,
  read: (dec: Decoder, legacy: boolean) => T,
  legacy: boolean,
): Map<string, T> | undefined {
  // Each entry is at least a 2-byte name and a 1-byte body.
  const count = readCount(dec, 3, what);
  if (count === 0) return undefined;
  const map = new Map<string, T>();
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const at = dec.offset;
    const name = readText(dec, MAX_NAME_LENGTH, what, ' name');
    if (previous !== undefined && compareStrings(previous, name) >= 0) throw malformed(`${what} names are not strictly increasing`, at);
    previous = name;
    map.set(name, read(dec, legacy));
  }
  return map;
}

function readCounterEntry(dec: Decoder): PNCounter {
  const start = dec.offset;
  const counter = PNCounter.readFrom(dec);
  if (counter.isEmpty) throw malformed('an entity counter has no entries', start);
  return counter;
}

function readFieldEntry(dec: Decoder, legacy: boolean): LWWRegister {
  return LWWRegister.readFrom(dec, legacy);
}

function readSetEntry(dec: Decoder, legacy: boolean): GSet {
  const start = dec.offset;
  const set = GSet.readFrom(dec, legacy);
  if (set.size === 0) throw malformed('an entity set has no members', start);
  return set;
}

/**
 * @internal Reads one entity record, checking everything (`MalformedPayload`,
 * `Truncated`, `LengthOutOfBounds`). `stateVersion` is the state encoding's
 * (docs/CRDT.md, "State"): 1 reads registers and sets written in the old
 * value form.
 */
export function readEntityRecord(dec: Decoder, stateVersion = 2): DecodedEntity {
  const legacy = stateVersion === 1;
  const at = dec.offset;
  const key = readText(dec, MAX_ENTITY_KEY_LENGTH, 'entity key');
  const entity = new SignalEntity();
  entity.counters = readSorted(dec, 'counter', readCounterEntry, legacy);
  entity.fields = readSorted(dec, 'field', readFieldEntry, legacy);
  entity.sets = readSorted(dec, 'set', readSetEntry, legacy);
  if (!entity.counters && !entity.fields && !entity.sets) throw malformed(`entity ${JSON.stringify(key)} is empty`, at);
  return { key, entity };
}
