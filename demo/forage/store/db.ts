/**
 * The part of `TidalDb` Forage's handlers use, and how they reach it from
 * Forage's worker. `openTidal` runs in the page (its leader terms live in
 * `localStorage`), so the page opens the database (`window.tidal`) and
 * hands the worker a `MessagePort` over which it serves these methods with
 * comlink: the handlers call tidal's public API, one hop away.
 *
 *     // page
 *     const { port1, port2 } = new MessageChannel();
 *     serveForageDb(db, port1);
 *     // worker
 *     const db = forageDbOver(port2);
 */
import * as Comlink from 'comlink';
import type { TidalDb, Value } from '../../../src/index.js';

/** What Forage's handlers need of a database. */
export type ForageDb = Pick<TidalDb, 'increment' | 'set' | 'add' | 'get' | 'scan' | 'flush'>;

/** Serves `db`'s Forage methods on `port` (the page's side). */
export function serveForageDb(db: TidalDb, port: MessagePort): void {
  const served: ForageDb = {
    increment: (key, kind, by, options) => db.increment(key, kind, by, options),
    set: (key, field, value, options) => db.set(key, field, value, options),
    add: (key, setName, member, options) => db.add(key, setName, member, options),
    get: (key, options) => db.get(key, options),
    scan: (prefix, options) => db.scan(prefix, options),
    flush: () => db.flush(),
  };
  Comlink.expose(served, port);
}

/** The database served on `port` (the worker's side). */
export function forageDbOver(port: MessagePort): ForageDb {
  const remote = Comlink.wrap<ForageDb>(port);
  return {
    increment: (key, kind, by, options) => remote.increment(key, kind, by, options),
    set: (key, field, value, options) => remote.set(key, field, value, options),
    add: (key, setName, member, options) => remote.add(key, setName, member, options),
    get: (key, options) => remote.get(key, options),
    scan: (prefix, options) => remote.scan(prefix, options),
    flush: () => remote.flush(),
  };
}

/**
 * A record (an interface of strings, numbers, booleans, arrays and plain
 * objects) as the `Value` tidal stores. TypeScript does not see an
 * interface as an index signature, so the type is asserted here, in one
 * place; tidal itself refuses at write time anything it cannot encode.
 */
export function recordValue(record: object): Value {
  return record as unknown as Value;
}
