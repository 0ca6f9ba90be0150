/**
 * Snapshots in device sync (docs/SYNC.md §9): a device joining late starts
 * from another device's snapshot plus the chunks after it; compaction of
 * the local log keeps what sync has not uploaded; a device whose log was
 * compacted before it ever uploaded restarts its chain from a snapshot.
 */
import { describe, expect, it } from 'vitest';
import { decodeSnapshotBody, encodeSnapshotBody } from './format.js';
import { MemoryRemote } from './memory-remote.js';
import { TestDevice, userKeys } from './testing/devices.js';

const encoded = (d: TestDevice) => Buffer.from(d.log.state.encode()).toString('hex');
const small = { maxChunkBytes: 1000, snapshotMinBytes: 3000 };

/** A device that synced 10 rounds of 50 increments each (so the store holds snapshots and chunks), on a fresh store. */
async function tenRoundsOfHistory() {
  const remote = new MemoryRemote();
  const keys = await userKeys();
  const a = new TestDevice(remote, keys, small);
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 50; i++) a.log.increment('item:x', 'click');
    await a.sync.sync();
  }
  return { remote, keys, a };
}

describe('sync with snapshots', () => {
  it("a snapshot's body is the same bytes with its state encoded in place as with the state's own bytes copied in", async () => {
    const a = new TestDevice(new MemoryRemote(), await userKeys());
    for (let i = 0; i < 200; i++) a.log.set(`item:${i}`, 'title', `title ${i} `.repeat(20));
    a.log.increment('item:7', 'click');
    const cursors = new Map([['b'.repeat(32), 12]]);
    const copied = encodeSnapshotBody({ lsn: 201, cursors, state: a.log.state.encode() });
    // A buffer far too small to start with: the state's bytes grow it as they are written.
    for (const capacity of [1, 4096, undefined]) {
      const inPlace = encodeSnapshotBody({ lsn: 201, cursors, state: a.log.state }, capacity);
      expect(Buffer.from(inPlace).toString('hex')).toBe(Buffer.from(copied).toString('hex'));
    }
    const body = decodeSnapshotBody(copied, 201, 'a snapshot');
    expect(body.cursors).toEqual(cursors);
    expect(Buffer.from(body.state).toString('hex')).toBe(encoded(a));
  });

  it('a device joining late pulls a snapshot and the chunks after it: bytes follow the state, not the history', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, small);
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++) a.log.increment(`item:${i % 5}`, 'click');
      a.log.set('item:0', 'title', `t${round}`);
      await a.sync.sync();
    }
    expect(a.sync.stats.snapshotsUp).toBeGreaterThan(3);
    const late = new TestDevice(remote, keys, small);
    await late.sync.sync();
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(late.log.state.counterValue('item:3', 'click')).toBe(400);
    expect(late.log.state.fieldValue('item:0', 'title')).toBe('t39');
    expect(encoded(late)).toBe(encoded(a));
    // The history is ~40 rounds of chunks; the joiner read a snapshot (a few hundred bytes) and at most two snapshots' worth of chunks.
    expect(late.sync.stats.bytesDown).toBeLessThan(a.sync.stats.bytesUp / 4);
    // Nothing counted twice later: more writes flow by chunks, and a second joiner agrees.
    a.log.increment('item:3', 'click', 5);
    await a.sync.sync();
    await late.sync.sync();
    expect(late.log.state.counterValue('item:3', 'click')).toBe(405);
    expect(late.sync.stats.snapshotsMerged).toBe(1);
  });

  it('a reader the chunks still reach starts from the snapshot when it and the chunks after it are fewer bytes', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, { maxChunkBytes: 2000, snapshotMinBytes: 12_000 }); // ~8.4 kB of chunks a round
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) a.log.increment('item:x', 'click');
      await a.sync.sync();
    }
    expect(a.sync.stats.snapshotsUp).toBe(1); // the first snapshot: every chunk is still listed
    const late = new TestDevice(remote, keys, small);
    await late.sync.sync();
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(late.log.state.counterValue('item:x', 'click')).toBe(150);
    expect(late.sync.stats.bytesDown).toBeLessThan(a.sync.stats.bytesUp * 0.6);
    // A reader one round behind takes the chunks: the snapshot would cost more.
    for (let i = 0; i < 5; i++) a.log.increment('item:x', 'click');
    await a.sync.sync();
    await late.sync.sync();
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(late.log.state.counterValue('item:x', 'click')).toBe(155);
  });

  it('a snapshot covers the devices its device merged: the joiner advances their cursors too and counts nothing twice', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const [a, b] = [new TestDevice(remote, keys, small), new TestDevice(remote, keys, small)];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 30; i++) a.log.increment('item:x', 'click');
      for (let i = 0; i < 30; i++) b.log.increment('item:x', 'click', 2);
      b.log.add('item:x', 'labels', `l${round % 3}`);
      await a.sync.sync();
      await b.sync.sync();
    }
    // b is merged with a; a joiner starting from either snapshot then pulls the other's tail.
    const late = new TestDevice(remote, keys, small);
    await late.sync.sync();
    expect(late.sync.stats.snapshotsMerged).toBeGreaterThanOrEqual(1);
    await a.sync.sync();
    await late.sync.sync();
    expect(late.log.state.counterValue('item:x', 'click')).toBe(20 * 30 * 3);
    expect(late.log.state.setMembers('item:x', 'labels')).toEqual(['l0', 'l1', 'l2']);
    await b.sync.sync();
    expect(encoded(late)).toBe(encoded(a));
    expect(encoded(late)).toBe(encoded(b));
  });

  it('a crash while merging a snapshot merges nothing of it; the retry merges it once', async () => {
    const { remote, keys, a } = await tenRoundsOfHistory();
    const late = new TestDevice(remote, keys, small);
    late.log.crashAfterMerges = 0;
    await expect(late.sync.sync()).rejects.toMatchObject({ code: 'StorageError' });
    late.reopen();
    expect(late.log.state.counterValue('item:x', 'click')).toBe(0);
    await late.sync.sync();
    expect(late.log.state.counterValue('item:x', 'click')).toBe(500);
    expect(encoded(late)).toBe(encoded(a));
  });

  it('a tampered snapshot is refused with nothing of it merged, and the stream after it waits', async () => {
    const { remote, keys } = await tenRoundsOfHistory();
    const objects = remote.keys().filter((k) => k.includes('/o/'));
    const late = new TestDevice(remote, keys, small);
    // Flip a byte in every object: whichever is the snapshot, it no longer matches its name.
    for (const key of objects) remote.tamper(key, -1);
    const report = await late.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['ObjectMismatch']);
    expect(late.log.state.keys()).toEqual([]);
    expect(late.log.lastLsn).toBe(0);
  });

  it('compaction keeps what sync has not uploaded; a log compacted before its first upload restarts the chain from a snapshot', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, small);
    for (let i = 0; i < 100; i++) a.log.increment('item:x', 'click');
    await a.sync.sync();
    for (let i = 0; i < 100; i++) a.log.increment('item:x', 'click');
    // Sync retains from what its manifest covers: compaction stops there, the 100 new events stay readable.
    a.log.compact(Infinity);
    expect(a.log.firstLsn).toBe(101);
    await a.sync.sync();
    const b = new TestDevice(remote, keys, small);
    await b.sync.sync();
    expect(b.log.state.counterValue('item:x', 'click')).toBe(200);

    // A device that wrote (and compacted its log) before sync was ever turned on.
    const c = new TestDevice(remote, keys, small);
    for (let i = 0; i < 70; i++) c.log.increment('item:y', 'click');
    c.log.firstLsn = 61; // the first 60 events are only in a local snapshot
    for (let i = 0; i < 10; i++) c.log.increment('item:y', 'click');
    await c.sync.sync();
    expect(c.sync.stats.snapshotsUp).toBe(1);
    c.log.increment('item:y', 'click');
    await c.sync.sync(); // the next chunk follows the snapshot
    await b.sync.sync();
    expect(b.log.state.counterValue('item:y', 'click')).toBe(81);
    await a.sync.sync();
    expect(a.log.state.counterValue('item:y', 'click')).toBe(81);
    expect(encoded(a)).toBe(encoded(b));
  });
});
