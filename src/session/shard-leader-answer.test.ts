/**
 * `ShardLeader.writeBatch`'s early answer: the outcomes go to `answered`
 * once the batch is durable, before the writes are applied, and anything
 * the answer's receiver does next (a read) finds them applied.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../wal/memory-storage.js';
import type { WalStorage } from '../wal/storage.js';
import { WatchedStorage } from '../wal/testing/watched-storage.js';
import { Wal } from '../wal/wal.js';
import { ShardLeader, type WriteOutcome } from './shard-leader.js';
import type { WriteRequest } from './write.js';

/** A storage that counts the bytes written and not yet flushed, over every file. */
function flushWatch(): { storage: WalStorage; unflushed(): number } {
  let unflushed = 0;
  const storage = new WatchedStorage(new MemoryStorage(), {
    beforeWrite: (bytes) => void (unflushed += bytes.length),
    afterFlush: () => void (unflushed = 0),
  });
  return { storage, unflushed: () => unflushed };
}

const SESSION = 'cd'.repeat(16);
const request = (seq: number, key: string, idempotencyKey?: string): WriteRequest => ({
  session: SESSION,
  startedAt: Date.now(),
  seq,
  acked: 0,
  ops: [{ op: 'increment', key, kind: 'view', by: 1 }],
  ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
});

/** A leader on a durable log; `told` lists, in order, what the log's commit listeners (the shippers) were told. */
async function durableLeader(storage: WalStorage, told: string[] = []): Promise<ShardLeader> {
  const { wal } = await Wal.open(storage, { shard: 0, durable: true });
  wal.onCommit((batch) => told.push(`shipped ${batch.firstLsn}..${batch.lastLsn}`));
  return ShardLeader.open({ wal, replica: 'tab-a.0' });
}

describe('ShardLeader.writeBatch answered early', () => {
  it('answers once the batch is flushed and before it is shipped, with the outcomes it resolves with, and a read made on the answer sees the writes', async () => {
    const watch = flushWatch();
    const told: string[] = [];
    const leader = await durableLeader(watch.storage, told);
    const seen: { outcomes: readonly WriteOutcome[]; unflushed: number; readBack: Promise<number | bigint | undefined> }[] = [];
    const resolved = await leader.writeBatch([request(1, 'a'), request(2, 'a'), request(3, 'b')], (outcomes) => {
      told.push('answered');
      seen.push({
        outcomes,
        unflushed: watch.unflushed(),
        // What the receiver of the answer sends next (a read) reaches the worker as a task of its own, after this one: it sees the writes.
        readBack: new Promise((resolve) => setTimeout(() => resolve(leader.state.crdt.counterValue('a', 'view')), 0)),
      });
    });
    expect(told).toEqual(['answered', 'shipped 1..3']);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.unflushed).toBe(0);
    expect(seen[0]!.outcomes).toEqual(resolved);
    expect(resolved.map((o) => (o.ok ? o.token.lsn : o.error))).toEqual([1, 2, 3]);
    expect(await seen[0]!.readBack).toBe(2);
    expect(leader.appliedLsn).toBe(3);
  });

  it('answers a write refused on admission along with the others, and applies only the admitted', async () => {
    const leader = await durableLeader(flushWatch().storage);
    let answered: readonly WriteOutcome[] | undefined;
    // SeqNo 5 skips 2..4: a gap, refused; 1 is admitted.
    const resolved = await leader.writeBatch([request(1, 'a'), request(5, 'a')], (outcomes) => (answered = outcomes));
    expect(answered).toEqual(resolved);
    expect(resolved.map((o) => o.ok)).toEqual([true, false]);
    expect(leader.state.crdt.counterValue('a', 'view')).toBe(1);
  });

  it("does not answer early when an outcome is another write's (a key repeated in the batch): the promise answers, with one token for both", async () => {
    const leader = await durableLeader(flushWatch().storage);
    let calls = 0;
    const resolved = await leader.writeBatch([request(1, 'a', 'once'), request(2, 'a', 'once')], () => calls++);
    expect(calls).toBe(0);
    expect(resolved.map((o) => (o.ok ? o.token.lsn : o.error))).toEqual([1, 1]);
    expect(leader.state.crdt.counterValue('a', 'view')).toBe(1);
  });

  it('applies the committed writes even when the answer throws', async () => {
    const leader = await durableLeader(flushWatch().storage);
    const resolved = await leader.writeBatch([request(1, 'a')], () => {
      throw new Error('the port is gone');
    });
    expect(resolved.map((o) => o.ok)).toEqual([true]);
    expect(leader.state.crdt.counterValue('a', 'view')).toBe(1);
  });
});
