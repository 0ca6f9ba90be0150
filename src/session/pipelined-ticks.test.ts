/**
 * Pipelined group commit: a session writer does not wait for one tick's
 * acknowledgement before it sends the next, so several ticks are in flight
 * to the shard's leader at once, each its own WAL batch. These tests pin
 * what that must keep: the ticks land in the order they were issued, a
 * batch that fails in the middle of the pipeline fails only its own writes
 * (those behind it still land, once, in order), and a leader replaced with
 * ticks in flight takes each of them exactly once.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { TidalError } from '../common/errors.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import type { WalStorage } from '../wal/storage.js';
import { WatchedStorage } from '../wal/testing/watched-storage.js';
import { Wal } from '../wal/wal.js';
import { SessionWriter, type SessionLink } from './session-writer.js';
import { ShardLeader } from './shard-leader.js';
import type { ClientOperation, WriteRequest, WriteToken } from './write.js';

/** Sends a tick's requests to the leader `leader()` gives as one `writeBatch`, as the tab's `TickBatcher` does (without a worker). */
function tickLink(leader: () => Promise<ShardLeader>): SessionLink {
  let queue: { request: WriteRequest; resolve(token: WriteToken): void; reject(error: unknown): void }[] = [];
  return {
    write(request) {
      return new Promise<WriteToken>((resolve, reject) => {
        if (queue.push({ request, resolve, reject }) > 1) return;
        queueMicrotask(() => {
          const batch = queue;
          queue = [];
          leader()
            .then((l) => l.writeBatch(batch.map((b) => b.request)))
            .then(
              (outcomes) => outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.token) : batch[i]!.reject(o.error))),
              (error: unknown) => batch.forEach((b) => b.reject(error)),
            );
        });
      });
    },
  };
}

/** Tick `t`'s operations: the register `k.v` set to `t`, one more on counter `k.n`. */
const tickOps = (t: number): ClientOperation[] => [
  { op: 'set', key: 'k', field: 'v', value: t },
  { op: 'increment', key: 'k', kind: 'n', by: 1 },
];

/**
 * Issues `ticks` ticks back to back, each in its own microtask turn and none awaited before the
 * next; `during(t)` runs after tick `t` is issued. Returns each tick's settled outcome and the most
 * writes the writer held unacknowledged at once.
 */
async function issueTicks(
  writer: SessionWriter,
  ticks: number,
  during: (t: number) => void = () => undefined,
): Promise<{ settled: PromiseSettledResult<WriteToken>[]; mostInFlight: number }> {
  const written: Promise<WriteToken>[] = [];
  let mostInFlight = 0;
  for (let t = 0; t < ticks; t++) {
    written.push(writer.write(tickOps(t)));
    during(t);
    await Promise.resolve(); // the tick ends: the writer seals it and sends it
    mostInFlight = Math.max(mostInFlight, writer.unacknowledged);
  }
  return { settled: await Promise.allSettled(written), mostInFlight };
}

/** What the ticks left at key `k`: the counter and the register. */
const kState = (leader: ShardLeader) => ({
  n: leader.state.crdt.counterValue('k', 'n'),
  v: leader.state.crdt.entity('k')?.fields.get('v'),
});

/** A storage whose `n`-th file write (counting from 1) fails with `StorageFull`, once. */
function failingWrite(storage: MemoryStorage, failing: number): WalStorage {
  let writes = 0;
  return new WatchedStorage(storage, {
    beforeWrite: () => {
      if (++writes === failing) throw new TidalError('StorageFull', 'quota used up (injected)');
    },
  });
}

async function openLeader(storage: WalStorage, replica: string): Promise<{ wal: Wal; leader: ShardLeader }> {
  const { wal } = await Wal.open(storage, { shard: 0 });
  onTestFinished(() => wal.close().catch(() => undefined));
  return { wal, leader: await ShardLeader.open({ wal, replica }) };
}

describe('pipelined ticks', () => {
  it('keeps several ticks in flight and lands them in the order they were issued, each its own batch', async () => {
    const { wal, leader } = await openLeader(new MemoryStorage(), 'l');
    const writer = new SessionWriter({ shard: 0, link: tickLink(async () => leader), merge: true });
    const { settled, mostInFlight } = await issueTicks(writer, 20);
    expect(mostInFlight).toBeGreaterThanOrEqual(5); // the ticks did not wait for one another
    const lsns = settled.map((s) => (s.status === 'fulfilled' ? s.value.lsn : -1));
    expect(lsns).toEqual(Array.from({ length: 20 }, (_, t) => t + 1)); // one event per tick, in issue order
    expect(kState(leader)).toEqual({ n: 20, v: 19 });
    expect(wal.lastLsn).toBe(20);
  });

  it('a batch that fails in the middle of the pipeline fails its own writes only; those behind it land once, in order', async () => {
    const storage = new MemoryStorage();
    // Write 1 is the segment's header; write 4 is the third tick's batch.
    const { wal, leader } = await openLeader(failingWrite(storage, 4), 'l');
    const writer = new SessionWriter({ shard: 0, link: tickLink(async () => leader), merge: true });
    const { settled, mostInFlight } = await issueTicks(writer, 10);
    expect(mostInFlight).toBeGreaterThanOrEqual(5); // the ticks did not wait for one another
    const outcomes = settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as TidalError).code));
    expect(outcomes).toEqual(['ok', 'ok', 'StorageFull', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    const lsns = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.lsn] : []));
    expect([...lsns].sort((a, b) => a - b)).toEqual(lsns); // acknowledged in issue order
    // Tick 2 took nothing effect: nine increments, and the last tick's value.
    expect(kState(leader)).toEqual({ n: 9, v: 9 });
    // The session goes on, and its log reads back to the same state on a new leader.
    await writer.write(tickOps(10));
    await wal.close();
    const { leader: reopened } = await openLeader(storage, 'l2');
    expect(kState(reopened)).toEqual({ n: 10, v: 10 });
    expect(reopened.state.refusedOps).toBe(0);
  });

  it('a leader replaced with ticks in flight takes each of them exactly once, in order', async () => {
    const storage = new MemoryStorage();
    let current = openLeader(storage, 'l0');
    let generation = 0;
    const writer = new SessionWriter({
      shard: 0,
      link: tickLink(async () => (await current).leader),
      merge: true,
      retryDelayMs: 1,
    });
    const replaced = (async () => {
      const { wal } = await current;
      return wal;
    })();
    const { settled, mostInFlight } = await issueTicks(writer, 12, (t) => {
      if (t !== 5) return;
      // The leader goes with ticks in flight: its log closes under them (appends after it fail, Closed) and a new leader recovers the shard.
      void replaced.then(async (wal) => {
        await wal.close().catch(() => undefined);
        storage.crash();
        current = openLeader(storage, `l${++generation}`);
        writer.resend();
      });
    });
    expect(mostInFlight).toBeGreaterThanOrEqual(5); // the ticks did not wait for one another
    expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
    const lsns = settled.map((s) => (s as PromiseFulfilledResult<WriteToken>).value.lsn);
    expect([...lsns].sort((a, b) => a - b)).toEqual(lsns);
    const { leader } = await current;
    expect(generation).toBe(1);
    expect(kState(leader)).toEqual({ n: 12, v: 11 });
    expect(leader.state.refusedOps).toBe(0);
  });
});
