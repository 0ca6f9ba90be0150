/**
 * The public shape of an entity (`Entity`: plain objects, cloneable across
 * workers) made from the CRDT state's view of it.
 */
import type { SignalEntityView } from '../crdt/signal-state.js';
import type { Value } from '../wal/payload.js';
import type { Entity } from './api.js';

export function toEntity(view: SignalEntityView | undefined): Entity | undefined {
  if (!view) return undefined;
  const counters: Record<string, number> = {};
  // A bigint only past ±(2^53-1), after merges of several devices: read as the nearest number.
  for (const [kind, value] of view.counters) own(counters, kind, Number(value));
  const fields: Record<string, Value> = {};
  for (const [name, value] of view.fields) own(fields, name, value as Value);
  const sets: Record<string, Value[]> = {};
  for (const [name, members] of view.sets) own(sets, name, [...members] as Value[]);
  return { counters, fields, sets };
}

/** Sets `object[name]` as an own property, also for `'__proto__'` (which an assignment would take for the prototype). */
function own<V>(object: Record<string, V>, name: string, value: V): void {
  if (name === '__proto__') Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  else object[name] = value;
}
