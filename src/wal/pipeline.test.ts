// The pipelined group commit: a batch queued behind others is hashed in
// the helper (here `FakeHashEndpoint`, in the same thread) while those are
// written; order, LSN density and durability hold whatever the helper or
// the storage does.
import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { BatchHasher } from './batch-hasher.js';
import { GroupCommit, type GroupCommitTarget } from './group-commit.js';
import { MemoryStorage } from './memory-storage.js';
import { FakeHashEndpoint } from './testing/fake-hash-endpoint.js';
import { FaultyStorage } from './testing/faulty-storage.js';
import { appendWindowed, fullStorageMidPipeline, pipelinedEvent, windowedAppendsHold } from './testing/pipeline-scenarios.js';
import type { WalStorage } from './storage.js';
import type { LsnRange } from './segment-log.js';
import { Wal } from './wal.js';

async function reopenEvents(storage: WalStorage): Promise<{ events: unknown[]; issues: readonly unknown[] }> {
  const { wal, report } = await Wal.open(storage, { shard: 0, batchHasher: null });
  const events: unknown[] = [];
  for await (const { event } of wal.read(1)) events.push(event);
  await wal.close();
  return { events, issues: report.issues };
}

async function fakeHasher(mode: 'auto' | 'manual' = 'auto') {
  const endpoint = new FakeHashEndpoint(await loadBlake3(), mode);
  return { endpoint, hasher: new BatchHasher(() => endpoint) };
}

describe('GroupCommit pipeline', () => {
  /** A target that records what it is asked and fails the batches whose index is in `failing`. */
  function recordingTarget(failing: ReadonlySet<number>) {
    const prepared: { index: number; eventCount: number; eventsAhead: number }[] = [];
    const committed: number[] = [];
    let nextLsn = 1;
    let batches = 0;
    const target: GroupCommitTarget<number> = {
      assertUsable: () => undefined,
      prepareBatch: (_batch, eventCount, eventsAhead) => {
        prepared.push({ index: prepared.length, eventCount, eventsAhead });
        return prepared.length - 1;
      },
      commitBatch: async (_batch, eventCount, index) => {
        await null;
        expect(index).toBe(batches++); // each batch comes back with what was prepared for it, in order
        if (failing.has(index)) throw new TidalError('StorageFull', `batch ${index} refused`);
        committed.push(index);
        nextLsn += eventCount;
        return nextLsn - eventCount;
      },
    };
    return { target, prepared, committed };
  }

  it('prepares each group as it closes with the events queued ahead of it, and commits them in that order', async () => {
    const { target, prepared, committed } = recordingTarget(new Set());
    const commits = new GroupCommit(target, 1 << 20);
    const first = commits.append([1, 2]);
    await null;
    const second = commits.append([3]);
    const third = commits.append([4, 5, 6]); // same tick: the same group
    await null;
    expect(await Promise.all([first, second, third])).toEqual([
      { first: 1, last: 2 },
      { first: 3, last: 3 },
      { first: 4, last: 6 },
    ]);
    expect(prepared).toEqual([
      { index: 0, eventCount: 2, eventsAhead: 0 },
      { index: 1, eventCount: 4, eventsAhead: 2 },
    ]);
    expect(committed).toEqual([0, 1]);
    await commits.append([7]);
    expect(prepared[2]).toEqual({ index: 2, eventCount: 1, eventsAhead: 0 }); // nothing queued ahead any more
  });

  it('a failed group rejects its own appends only; the groups behind it commit, in order, at the LSNs it left free', async () => {
    const { target, committed } = recordingTarget(new Set([1]));
    const commits = new GroupCommit(target, 1 << 20);
    const outcomes: Promise<LsnRange | string>[] = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(commits.append([i]).catch((error: unknown) => (isTidalError(error) ? error.code : 'other')));
      await null;
    }
    expect(await Promise.all(outcomes)).toEqual([{ first: 1, last: 1 }, 'StorageFull', { first: 2, last: 2 }, { first: 3, last: 3 }]);
    expect(committed).toEqual([0, 2, 3]);
  });

  it('a group whose preparation throws rejects its own appends with that error; the others go on', async () => {
    const { target, committed } = recordingTarget(new Set());
    const prepare = target.prepareBatch;
    const commits = new GroupCommit<number>(
      {
        ...target,
        prepareBatch: (batch, eventCount, eventsAhead) => {
          if (eventCount === 2) throw new TidalError('InvalidArgument', 'the clock refused');
          return prepare(batch, eventCount, eventsAhead);
        },
        commitBatch: (batch, eventCount, index) => target.commitBatch(batch, eventCount, index),
      },
      1 << 20,
    );
    const refused = commits.append([1, 2]);
    await null;
    const next = commits.append([3]);
    await expect(refused).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await next).toEqual({ first: 1, last: 1 });
    expect(committed).toEqual([0]);
  });
});

describe('Wal with the batch hasher', () => {
  it('hashes batches queued behind a write in the helper, and every one of them verifies when the log is reopened', async () => {
    const { hasher } = await fakeHasher();
    await windowedAppendsHold(new MemoryStorage(), { batchHasher: hasher });
    expect(hasher.counts.used).toBeGreaterThan(40);
  });

  it('acknowledges a pipelined batch only once it is flushed: a crash loses nothing acknowledged', async () => {
    const storage = new MemoryStorage();
    const { hasher } = await fakeHasher();
    const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: 1 << 20, batchHasher: hasher });
    const outcomes = await appendWindowed(wal, 50, 4);
    const late = [wal.append([pipelinedEvent(50)])]; // queued, never awaited before the crash
    await null;
    late.push(wal.append([pipelinedEvent(51)])); // queued behind it: its digest asked of the helper
    storage.crash();
    for (const append of late) await append.catch(() => undefined);
    await wal.close(); // the crashed process's handles, let go (what it did after the crash is not under test)
    const { events, issues } = await reopenEvents(storage);
    expect(issues).toEqual([]);
    expect(outcomes).toEqual(Array.from({ length: 50 }, (_, i) => ({ first: i + 1, last: i + 1 })));
    expect(events.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => pipelinedEvent(i)));
  });

  it('a batch refused by full storage fails alone; the ones hashed behind it for LSNs it would have taken are hashed again for theirs', async () => {
    const { hasher } = await fakeHasher();
    await fullStorageMidPipeline(new FaultyStorage(new MemoryStorage()), { batchHasher: hasher });
    expect(hasher.counts.used).toBeGreaterThan(20);
    expect(hasher.counts.used).toBeLessThan(hasher.counts.requested); // those foreseen at the refused batch's LSNs were not used
  });

  it('a helper that crashes mid-stream costs nothing: the batches it owed are hashed on the WAL thread', async () => {
    const storage = new MemoryStorage();
    const { endpoint, hasher } = await fakeHasher('manual');
    const { wal } = await Wal.open(storage, { shard: 0, batchHasher: hasher });
    const pending = appendWindowed(wal, 30, 4);
    for (let turn = 0; turn < 10; turn++) {
      endpoint.answer();
      await null;
    }
    endpoint.crash();
    expect(await pending).toEqual(Array.from({ length: 30 }, (_, i) => ({ first: i + 1, last: i + 1 })));
    expect(hasher.available).toBe(false);
    storage.crash();
    const { events, issues } = await reopenEvents(storage);
    expect(issues).toEqual([]);
    expect(events).toHaveLength(30);
  });

  it('a helper that never answers costs nothing either: every append commits, hashed here', async () => {
    const storage = new MemoryStorage();
    const { hasher } = await fakeHasher('manual');
    const { wal } = await Wal.open(storage, { shard: 0, batchHasher: hasher });
    expect(await appendWindowed(wal, 30, 4)).toEqual(Array.from({ length: 30 }, (_, i) => ({ first: i + 1, last: i + 1 })));
    expect(hasher.counts.used).toBe(0);
    await wal.close();
    expect((await reopenEvents(storage)).events).toHaveLength(30);
  });
});
