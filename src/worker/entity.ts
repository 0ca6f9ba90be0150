/**
 * The public shape of an entity (`Entity`: plain objects, cloneable across
 * workers) made from the CRDT state's view of it.
 */
import type { SignalEntityView } from '../crdt/signal-state.js';
import type { Value } from '../wal/payload.js';
import type { Entity } from './api.js';

export function toEntity(view: SignalEntityView | undefined): Entity | undefined {
  if (!view) return undefined;
  // Object.fromEntries defines own properties, so a key like '__proto__' stays a plain key.
  return {
    // A bigint only past ±(2^53-1), after merges of several devices: read as the nearest number.
    counters: Object.fromEntries([...view.counters].map(([kind, value]) => [kind, Number(value)])),
    fields: Object.fromEntries(view.fields) as Record<string, Value>,
    sets: Object.fromEntries([...view.sets].map(([name, members]) => [name, [...members]])) as Record<string, Value[]>,
  };
}
