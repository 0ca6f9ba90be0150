/**
 * The part of `TidalDb` Forage's handlers use, and how they reach it from
 * Forage's worker. `openTidal` runs in the page (its leader terms live in
 * `localStorage`), so the page opens the database (`window.tidal`) and
 * hands the worker a `MessagePort` over which it serves these methods with
 * comlink: the handlers call tidal's public API, one hop away. A handler's
 * writes go over as one list and into one `db.transact` (one hop, one
 * promise; all or nothing per shard), not as one call per write: a feed of
 * 300 items is one message, not 600.
 *
 *     // page
 *     const { port1, port2 } = new MessageChannel();
 *     serveForageDb(db, port1);
 *     // worker
 *     const db = forageDbOver(port2);
 */
import * as Comlink from 'comlink';
import type { TidalDb, TidalTransaction, Value } from '../../../src/index.js';

/** One write of a handler, as data (so that a list of them crosses to the page in one message). */
export type ForageWrite =
  | { readonly op: 'set'; readonly key: string; readonly field: string; readonly value: Value }
  | { readonly op: 'add'; readonly key: string; readonly set: string; readonly member: Value }
  | { readonly op: 'increment'; readonly key: string; readonly kind: string; readonly by: number };

export const setField = (key: string, field: string, value: Value): ForageWrite => ({ op: 'set', key, field, value });
export const addMember = (key: string, set: string, member: Value): ForageWrite => ({ op: 'add', key, set, member });
export const incrementCounter = (key: string, kind: string, by = 1): ForageWrite => ({ op: 'increment', key, kind, by });

/** What Forage's handlers need of a database: reads, and writes in lists. */
export interface ForageDb extends Pick<TidalDb, 'get' | 'scan' | 'flush'> {
  /** Writes `writes` with one `TidalDb.transact`; nothing is sent if one of them is invalid. */
  write(writes: readonly ForageWrite[]): Promise<void>;
}

/** Adds `writes` to a transaction. */
export function addToTransaction(tx: TidalTransaction, writes: readonly ForageWrite[]): void {
  for (const write of writes) {
    switch (write.op) {
      case 'set':
        tx.set(write.key, write.field, write.value);
        break;
      case 'add':
        tx.add(write.key, write.set, write.member);
        break;
      case 'increment':
        tx.increment(write.key, write.kind, write.by);
        break;
    }
  }
}

/** Serves `db`'s Forage methods on `port` (the page's side). */
export function serveForageDb(db: TidalDb, port: MessagePort): void {
  const served: ForageDb = {
    write: async (writes) => {
      if (writes.length > 0) await db.transact((tx) => addToTransaction(tx, writes));
    },
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
    write: (writes) => remote.write(writes),
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
