/**
 * `Wal.append(events, committed)`: the callback gets the append's range
 * from the commit itself, once the batch is flushed, before the commit
 * listeners (the shippers) are told and before any append of the batch
 * resolves; one that throws changes nothing for the batch.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import { WatchedStorage } from './testing/watched-storage.js';
import { Wal } from './wal.js';

describe('Wal.append committed', () => {
  it('tells each append of a batch its range once the batch is flushed, before the listeners and before any promise resolves', async () => {
    let unflushed = 0;
    const storage = new WatchedStorage(new MemoryStorage(), {
      beforeWrite: (bytes) => void (unflushed += bytes.length),
      afterFlush: () => void (unflushed = 0),
    });
    const { wal } = await Wal.open(storage, { shard: 0, durable: true });
    const order: string[] = [];
    wal.onCommit((batch) => order.push(`listener ${batch.firstLsn}..${batch.lastLsn}`));
    const first = wal.append(['a', 'b'], (range) => order.push(`committed ${range.first}..${range.last}, unflushed ${unflushed}`));
    const second = wal.append(['c'], () => {
      throw new Error("the caller's failure");
    });
    const third = wal.append(['d', 'e', 'f'], (range) => order.push(`committed ${range.first}..${range.last}, unflushed ${unflushed}`));
    void first.then((range) => order.push(`resolved ${range.first}..${range.last}`));
    expect(await Promise.all([first, second, third])).toEqual([
      { first: 1, last: 2 },
      { first: 3, last: 3 },
      { first: 4, last: 6 },
    ]);
    expect(order).toEqual(['committed 1..2, unflushed 0', 'committed 4..6, unflushed 0', 'listener 1..6', 'resolved 1..2']);
    const read: unknown[] = [];
    for await (const { event } of wal.read(1)) read.push(event);
    expect(read).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    await wal.close();
  });
});
