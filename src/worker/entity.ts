/**
 * The public shape of an entity (`Entity`: plain objects, cloneable across
 * workers), built from the CRDT state's entity as its parts are visited
 * (`CrdtSignalState.visitEntity`), with no view of `Map`s in between.
 *
 *     const entity = entityAt(state.crdt, 'item-1'); // undefined when it does not exist
 */
import type { CrdtSignalState, SignalEntityVisitor } from '../crdt/signal-state.js';
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

/** Sets `object[name]` as an own property, also for `'__proto__'` (which an assignment would take for the prototype). */
function own<V>(object: Record<string, V>, name: string, value: V): void {
  if (name === '__proto__') Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  else object[name] = value;
}
