/**
 * The public shape of an entity (`Entity`: plain objects, cloneable across
 * workers), built from the CRDT state's entity as its parts are visited
 * (`CrdtSignalState.visitEntity`), with no view of `Map`s in between; and
 * many entities as columns (`EntityColumns`), the form a scan's answer
 * crosses from the worker in, turned into entities on the main thread.
 *
 *     const entity = entityAt(state.crdt, 'item-1'); // undefined when it does not exist
 *     const columns = entityColumns(state.crdt, keys); // worker: one scan's answer
 *     const rows = entitiesFromColumns(columns);       // main thread: { key, entity } per key
 */
import type { CrdtSignalState, SignalEntityVisitor } from '../crdt/signal-state.js';
import type { SignalEntity } from '../crdt/signal-entity.js';
import type { PNCounter } from '../crdt/pn-counter.js';
import type { LWWRegister } from '../crdt/lww-register.js';
import type { GSet } from '../crdt/g-set.js';
import type { CrdtValue } from '../common/value.js';
import type { Value } from '../wal/payload.js';
import type { Entity } from './api.js';

/** Fills the entity it is given next: one visitor for every entity a read builds. */
class EntityBuilder implements SignalEntityVisitor {
  entity: Entity = { counters: {}, fields: {}, sets: {} };

  counter(kind: string, value: number | bigint): void {
    // A bigint only past ±(2^53-1), after merges of several devices: read as the nearest number.
    own(this.entity.counters, kind, Number(value));
  }

  field(name: string, value: CrdtValue): void {
    own(this.entity.fields as Record<string, Value>, name, value as Value);
  }

  set(name: string, members: readonly CrdtValue[]): void {
    own(this.entity.sets as Record<string, Value[]>, name, members as Value[]);
  }
}

const builder = new EntityBuilder();

/** Entity `key` of `crdt` in its public shape, or undefined when it does not exist. */
export function entityAt(crdt: CrdtSignalState, key: string): Entity | undefined {
  const entity: Entity = { counters: {}, fields: {}, sets: {} };
  builder.entity = entity;
  return crdt.visitEntity(key, builder) ? entity : undefined;
}

/**
 * Entities as flat arrays, in key order: what a scan's answer is made of
 * to cross from the worker, rather than five objects per entity. The
 * structured clone copies arrays of strings and numbers far faster than a
 * graph of small objects, which it rebuilds one property at a time: in
 * fresh Chromium pages, four workers' answers of 2,500 entities each (the
 * peers bench's reader: 4 counters and a label per entity) took the main
 * thread 22-34 ms to receive as objects, 16-19 ms as columns with the
 * entities then built here (`entitiesFromColumns`), and arrived whole after
 * 35-64 ms against 27-41 ms. (A name said once per answer and referred
 * to by number made the clone cheaper but the entities' construction here
 * dearer, by more: each part keeps its own name string.)
 */
export interface EntityColumns {
  /** Each entity's key. */
  readonly keys: readonly string[];
  /** Per entity, three counts: its counters, its fields and its sets. */
  readonly shape: Uint32Array;
  /** The names of the counters, fields and sets, entity after entity, in that order. */
  readonly names: readonly string[];
  /** The value of each name (a set's members as an array). */
  readonly values: readonly (Value | readonly Value[])[];
}

/** The entities of `crdt` at `keys` (each should exist: one that does not is given empty), as columns in that order. */
export function entityColumns(crdt: CrdtSignalState, keys: readonly string[]): EntityColumns {
  // Pass 1: each entity's record and its counts of parts.
  const records = new Array<Readonly<SignalEntity> | undefined>(keys.length);
  const shape = new Uint32Array(3 * keys.length);
  for (let i = 0; i < keys.length; i++) {
    const record = crdt.entityRecord(keys[i]!);
    records[i] = record;
    if (!record) continue;
    const counters = record.counters?.size ?? 0;
    const fields = record.fields?.size ?? 0;
    const sets = record.sets?.size ?? 0;
    shape[3 * i] = counters;
    shape[3 * i + 1] = fields;
    shape[3 * i + 2] = sets;
  }
  // Pass 2: the parts, in `visitEntity`'s order (counters, fields, sets, each in its map's order), with
  // `forEach` and callbacks made once per scan: a cold `for...of` over each entity's maps took 3-5 times
  // as long (its iterator's steps are calls until the loop is optimized), a visitor's a closure per map.
  // Pushed, not preallocated: `new Array(n)` is holey, and the structured clone writes a holey array
  // element by element as a sparse one (3 times as long here).
  const names: string[] = [];
  const values: (Value | readonly Value[])[] = [];
  const onCounter = (pn: PNCounter, kind: string): void => {
    names.push(kind);
    values.push(Number(pn.exactValue())); // as `entityAt` reads it
  };
  const onField = (register: LWWRegister, name: string): void => {
    names.push(name);
    values.push(register.value as Value);
  };
  const onSet = (set: GSet, name: string): void => {
    names.push(name);
    values.push(set.values() as Value[]);
  };
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    if (!record) continue;
    record.counters?.forEach(onCounter);
    record.fields?.forEach(onField);
    record.sets?.forEach(onSet);
  }
  return { keys, shape, names, values };
}

/** The entities of `columns`, in their order, each in its public shape (what `entityAt` gives for its key). */
export function entitiesFromColumns(columns: EntityColumns): { key: string; entity: Entity }[] {
  const { keys, shape, names, values } = columns;
  const rows: { key: string; entity: Entity }[] = new Array(keys.length);
  let part = 0;
  for (let i = 0; i < keys.length; i++) {
    const counters: Record<string, number> = {};
    const fields: Record<string, Value> = {};
    const sets: Record<string, Value[]> = {};
    for (let n = shape[3 * i]!; n > 0; n--, part++) own(counters, names[part]!, values[part] as number);
    for (let n = shape[3 * i + 1]!; n > 0; n--, part++) own(fields, names[part]!, values[part] as Value);
    for (let n = shape[3 * i + 2]!; n > 0; n--, part++) own(sets, names[part]!, values[part] as Value[]);
    rows[i] = { key: keys[i]!, entity: { counters, fields, sets } };
  }
  return rows;
}

/** Sets `object[name]` as an own property, also for `'__proto__'` (which an assignment would take for the prototype). */
function own<V>(object: Record<string, V>, name: string, value: V): void {
  if (name === '__proto__') Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  else object[name] = value;
}
