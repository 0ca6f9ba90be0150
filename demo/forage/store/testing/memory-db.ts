/**
 * An in-memory `ForageDb` for unit tests of the handlers' logic: entities
 * with counters, last-writer fields and grow-only sets, prefix scans in key
 * order, and a log of every write so that tests can assert that a refused
 * request wrote nothing and that a repeated refresh writes no item. The
 * real database is exercised end to end in e2e/forage.spec.ts.
 */
import type { Entity, ReadOptions, Value } from '../../../../src/index.js';
import type { ForageDb, ForageWrite } from '../db.js';

interface MutableEntity {
  counters: Record<string, number>;
  fields: Record<string, Value>;
  sets: Record<string, Value[]>;
}

export class MemoryForageDb implements ForageDb {
  readonly writes: string[] = [];
  readonly #entities = new Map<string, MutableEntity>();

  #entity(key: string): MutableEntity {
    let entity = this.#entities.get(key);
    if (!entity) this.#entities.set(key, (entity = { counters: {}, fields: {}, sets: {} }));
    return entity;
  }

  write(writes: readonly ForageWrite[]): Promise<void> {
    for (const write of writes) {
      const entity = this.#entity(write.key);
      switch (write.op) {
        case 'increment':
          entity.counters[write.kind] = (entity.counters[write.kind] ?? 0) + write.by;
          this.writes.push(`${write.key} +${write.kind}`);
          break;
        case 'set':
          entity.fields[write.field] = structuredClone(write.value);
          this.writes.push(`${write.key} =${write.field}`);
          break;
        case 'add': {
          const members = (entity.sets[write.set] ??= []);
          if (!members.some((m) => JSON.stringify(m) === JSON.stringify(write.member))) members.push(structuredClone(write.member));
          this.writes.push(`${write.key} +{${write.set}}`);
          break;
        }
      }
    }
    return Promise.resolve();
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
