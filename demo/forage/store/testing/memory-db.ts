/**
 * An in-memory `ForageDb` for unit tests of the handlers' logic: entities
 * with counters, last-writer fields and grow-only sets, prefix scans in key
 * order, and a log of every write so that tests can assert that a refused
 * request wrote nothing and that a repeated refresh writes no item. The
 * real database is exercised end to end in e2e/forage.spec.ts.
 */
import type { Entity, ReadOptions, Value, WriteToken } from '../../../../src/index.js';
import type { ForageDb } from '../db.js';

interface MutableEntity {
  counters: Record<string, number>;
  fields: Record<string, Value>;
  sets: Record<string, Value[]>;
}

export class MemoryForageDb implements ForageDb {
  readonly writes: string[] = [];
  readonly #entities = new Map<string, MutableEntity>();
  #lsn = 0;

  #entity(key: string): MutableEntity {
    let entity = this.#entities.get(key);
    if (!entity) this.#entities.set(key, (entity = { counters: {}, fields: {}, sets: {} }));
    return entity;
  }

  #token(key: string, what: string): Promise<WriteToken> {
    this.writes.push(`${key} ${what}`);
    return Promise.resolve({ shard: 0, lsn: ++this.#lsn } as unknown as WriteToken);
  }

  increment(key: string, kind: string, by = 1): Promise<WriteToken> {
    const entity = this.#entity(key);
    entity.counters[kind] = (entity.counters[kind] ?? 0) + by;
    return this.#token(key, `+${kind}`);
  }

  set(key: string, field: string, value: Value): Promise<WriteToken> {
    this.#entity(key).fields[field] = structuredClone(value);
    return this.#token(key, `=${field}`);
  }

  add(key: string, setName: string, member: Value): Promise<WriteToken> {
    const members = (this.#entity(key).sets[setName] ??= []);
    if (!members.some((m) => JSON.stringify(m) === JSON.stringify(member))) members.push(structuredClone(member));
    return this.#token(key, `+{${setName}}`);
  }

  get(key: string, _options?: ReadOptions): Promise<Entity | undefined> {
    const entity = this.#entities.get(key);
    return Promise.resolve(entity ? structuredClone(entity) : undefined);
  }

  scan(prefix: string, options: ReadOptions & { limit?: number } = {}): Promise<{ key: string; entity: Entity }[]> {
    const keys = [...this.#entities.keys()].filter((k) => k.startsWith(prefix)).sort();
    return Promise.resolve(keys.slice(0, options.limit ?? 100).map((key) => ({ key, entity: structuredClone(this.#entities.get(key)!) })));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}
