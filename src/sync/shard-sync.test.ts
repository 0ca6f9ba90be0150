import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { mulberry32 } from '../common/random.js';
import { MemoryRemote } from './memory-remote.js';
import type { GetOptions, ListOptions } from './remote.js';
import { ShardSync } from './shard-sync.js';
import { TestDevice, userKeys } from './testing/devices.js';
import { ManualClock } from '../common/testing/manual-clock.js';

const encoded = (d: TestDevice) => Buffer.from(d.log.state.encode()).toString('hex');

describe('ShardSync between devices of one user', () => {
  it('devices that wrote offline converge to equal encoded state once synced', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const [a, b] = [new TestDevice(remote, keys), new TestDevice(remote, keys)];
    for (let i = 0; i < 30; i++) a.log.increment(`item:${i % 5}`, 'click');
    a.log.set('item:1', 'title', 'from a');
    for (let i = 0; i < 20; i++) b.log.increment(`item:${i % 5}`, 'click', 2);
    b.log.add('item:2', 'labels', 'news');
    // A later HLC, so it wins on both: in another millisecond (within one, a's stamps, counted past b's, would win).
    for (const ms = Date.now(); Date.now() === ms;);
    b.log.set('item:1', 'title', 'from b');
    await a.sync.sync();
    await b.sync.sync();
    await a.sync.sync();
    expect(encoded(a)).toBe(encoded(b));
    expect(a.log.state.counterValue('item:0', 'click')).toBe(6 + 8);
    expect(b.log.state.fieldValue('item:1', 'title')).toBe('from b');
    expect(a.log.state.setMembers('item:2', 'labels')).toEqual(['news']);
    // Nothing is uploaded twice: b uploaded its own 22 events, not a's it merged.
    expect(b.sync.stats.eventsMerged).toBe(31);
    expect(a.sync.stats.eventsMerged).toBe(22);
    expect(a.sync.stats.pendingLsns).toBe(0);
  });

  it('a device that wrote nothing reads no manifest of its own: its round on an empty store is one LIST', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const reader = new TestDevice(remote, keys);
    await reader.sync.sync();
    expect(reader.sync.stats.requests).toBe(1);
    reader.log.increment('item:x', 'click'); // its first write: now it reads its manifest (absent) and uploads
    await reader.sync.sync();
    expect(remote.keys().some((k) => k === reader.sync.ownKey)).toBe(true);
  });

  it("a round's LIST goes out with its upload's first request, before any put", async () => {
    const calls: string[] = [];
    class Recording extends MemoryRemote {
      override putIfAbsent(key: string, bytes: Uint8Array) {
        calls.push('put');
        return super.putIfAbsent(key, bytes);
      }
      override get(key: string, options: GetOptions) {
        calls.push('get');
        return super.get(key, options);
      }
      override list(prefix: string, options?: ListOptions) {
        calls.push('list');
        return super.list(prefix, options);
      }
    }
    const device = new TestDevice(new Recording(), await userKeys());
    device.log.increment('item:x', 'click');
    await device.sync.sync();
    expect(calls.slice(0, 2).sort()).toEqual(['get', 'list']); // its own manifest and the listing, together
    expect(calls.slice(2)).toEqual(['put', 'put']); // the chunk, then the manifest; no second LIST
  });

  it('a crash mid-pull neither loses nor double-counts: the cursor is in the local log', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, { maxChunkBytes: 200 }); // many small chunks
    const b = new TestDevice(remote, keys);
    for (let i = 0; i < 40; i++) a.log.increment('item:x', 'click');
    await a.sync.sync();
    expect(a.sync.stats.objectsUp).toBeGreaterThan(5);
    b.log.crashAfterMerges = 2;
    await expect(b.sync.sync()).rejects.toMatchObject({ code: 'StorageError' });
    const partial = b.log.state.counterValue('item:x', 'click');
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(40);
    b.reopen(); // what was merged survived; the rest comes now
    expect(b.log.state.counterValue('item:x', 'click')).toBe(partial);
    await b.sync.sync();
    await b.sync.sync();
    expect(b.log.state.counterValue('item:x', 'click')).toBe(40);
    expect(encoded(a)).not.toBe(''); // a has nothing to merge
    await a.sync.sync();
    expect(encoded(a)).toBe(encoded(b));
  });

  it('exactly once through lost requests, lost answers and reordering', async () => {
    const random = mulberry32(42);
    const remote = new MemoryRemote({ random, loss: 0.15, answerLoss: 0.15, latencyMs: [0, 3] });
    const keys = await userKeys();
    const devices = [0, 1, 2].map(() => new TestDevice(remote, keys, { maxChunkBytes: 300 }));
    let expected = 0;
    for (let round = 0; round < 30; round++) {
      const d = devices[Math.floor(random() * 3)]!;
      const by = 1 + Math.floor(random() * 3);
      d.log.increment('item:y', 'click', by);
      expected += by;
      await Promise.all(
        devices.map((x) => x.sync.sync().catch((e: unknown) => (isTidalError(e, 'Unreachable') ? undefined : Promise.reject(e)))),
      );
    }
    // Let the lossy store settle: keep syncing until a round passes without a fault on every device.
    for (let i = 0; i < 200; i++) {
      const results = await Promise.all(
        devices.map((x) =>
          x.sync.sync().then(
            () => true,
            () => false,
          ),
        ),
      );
      if (results.every(Boolean) && new Set(devices.map(encoded)).size === 1) break;
    }
    for (const d of devices) expect(d.log.state.counterValue('item:y', 'click')).toBe(expected);
    expect(new Set(devices.map(encoded)).size).toBe(1);
    expect(remote.counters.lost).toBeGreaterThan(0);
  });

  it('a manifest stays bounded; a device joining late walks its pages and gets everything', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys);
    for (let i = 0; i < 150; i++) {
      a.log.increment(`item:${i}`, 'click');
      await a.sync.sync(); // one chunk per round
    }
    const manifestKey = remote.keys().find((k) => k.includes('/m/'))!;
    expect(remote.peek(manifestKey)!.byteLength).toBeLessThan(64 * 200);
    const late = new TestDevice(remote, keys);
    await late.sync.sync();
    expect(late.log.state.keys()).toHaveLength(150);
    expect(encoded(late)).toBe(encoded(a));
  });

  it('cuts chunks at their real encoded size', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, { maxChunkBytes: 16 * 1024 });
    for (let i = 0; i < 200; i++) a.log.set(`item:${i}`, 'body', 'x'.repeat(1000));
    await a.sync.sync();
    const chunks = remote.keys().filter((k) => k.includes('/o/'));
    expect(chunks.length).toBeGreaterThanOrEqual(12); // ~200 KB in 16 KiB chunks
    for (const key of chunks) expect(remote.peek(key)!.byteLength).toBeLessThan(16 * 1024 + 1200);
    const b = new TestDevice(remote, keys);
    await b.sync.sync();
    expect(b.log.state.keys()).toHaveLength(200);
  });

  it('two databases of one user sync apart', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const feeds = new TestDevice(remote, keys, { database: 'feeds' });
    const notes = new TestDevice(remote, keys, { database: 'notes' });
    const feedsElsewhere = new TestDevice(remote, keys, { database: 'feeds' });
    feeds.log.increment('item:1', 'click');
    notes.log.increment('note:1', 'edit');
    for (const d of [feeds, notes, feedsElsewhere]) await d.sync.sync();
    expect(feedsElsewhere.log.state.keys()).toEqual(['item:1']);
    expect(remote.keys().some((k) => k.includes('feeds') || k.includes('notes'))).toBe(false); // names hide the database too
  });

  it("reports the last sync and the last error in the injected clock's time", async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const clock = new ManualClock();
    const a = new TestDevice(remote, keys, { clock });
    a.log.increment('item:1', 'click');
    expect(a.sync.stats.lastSyncAt).toBeUndefined();
    expect(a.sync.stats.pendingLsns).toBe(1);
    await a.sync.sync();
    expect(a.sync.stats).toMatchObject({ lastSyncAt: clock.time, lastError: undefined, pendingLsns: 0, objectsUp: 2 });
    clock.time += 60_000;
    remote.offline = true;
    a.log.increment('item:1', 'click');
    await expect(a.sync.sync()).rejects.toMatchObject({ code: 'Unreachable' });
    expect(a.sync.stats).toMatchObject({ lastSyncAt: clock.time - 60_000, lastError: { code: 'Unreachable' }, pendingLsns: 1 });
    remote.offline = false;
    await a.sync.sync();
    expect(a.sync.stats).toMatchObject({ lastSyncAt: clock.time, lastError: undefined, pendingLsns: 0 });
  });

  it('a stale uploader is fenced by a newer epoch of the same device', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys);
    const zombie = a.sync;
    a.log.increment('k', 'click');
    await zombie.sync();
    a.epoch = 5; // a newer leader tab of the same device
    const successor = new ShardSync({ remote, keys, database: 'test', device: a.id, shard: 0, shards: 1, epoch: 5, log: a.log });
    a.log.increment('k', 'click');
    await successor.sync();
    a.log.increment('k', 'click');
    await expect(zombie.sync()).rejects.toMatchObject({ code: 'WriterFenced' });
    expect(zombie.stats.fenced).toBe(true);
    await successor.sync();
    const reader = new TestDevice(remote, keys);
    await reader.sync.sync();
    expect(reader.log.state.counterValue('k', 'click')).toBe(3);
  });
});

describe('ShardSync refuses what the store forges, and goes on with the good objects', () => {
  async function setup() {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const [a, b, reader] = [new TestDevice(remote, keys), new TestDevice(remote, keys), new TestDevice(remote, keys)];
    a.log.increment('a', 'click', 1);
    b.log.increment('b', 'click', 1);
    await a.sync.sync();
    await b.sync.sync();
    const objectsOf = (since: Set<string>) => remote.keys().filter((k) => k.includes('/o/') && !since.has(k));
    return { remote, keys, a, b, reader, objectsOf };
  }

  it('a flipped byte in a chunk: ObjectMismatch, nothing of it merged, the other device merged', async () => {
    const { remote, a, b, reader } = await setup();
    const before = new Set(remote.keys());
    a.log.increment('a', 'click', 10);
    await a.sync.sync();
    const chunk = remote.keys().find((k) => !before.has(k) && k.includes('/o/'))!;
    remote.tamper(chunk, -5);
    b.log.increment('b', 'click', 10);
    await b.sync.sync();
    const report = await reader.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['ObjectMismatch']);
    expect(reader.log.state.counterValue('a', 'click')).toBe(1); // the chunk before the bad one only
    expect(reader.log.state.counterValue('b', 'click')).toBe(11);
    expect(reader.sync.stats.refused).toEqual({ ObjectMismatch: 1 });
  });

  it('objects swapped under each other names: ObjectMismatch', async () => {
    const { remote, a, reader } = await setup();
    const chunks = remote.keys().filter((k) => k.includes('/o/'));
    const [x, y] = [remote.peek(chunks[0]!)!, remote.peek(chunks[1]!)!];
    remote.set(chunks[0]!, y);
    remote.set(chunks[1]!, x);
    const report = await reader.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['ObjectMismatch', 'ObjectMismatch']);
    expect(reader.log.state.keys()).toEqual([]);
    expect(a.log.state.keys()).toEqual(['a']);
  });

  it('a chunk opened in another place than it was sealed for (another sequence) fails authentication', async () => {
    // Names catch a swap in the store; the associated data catches an object listed in the wrong place (a device's bug, a replay).
    const { remote, keys, a, reader } = await setup();
    const { seal } = await import('./envelope.js');
    const { encodeChunkV1 } = await import('./chunk-format.js');
    const sealed = await seal(
      keys,
      'chunk',
      { kind: 'chunk', root: keys.root, device: a.id, shard: 0, seq: 9, from: 1, to: 1 },
      encodeChunkV1([]),
    );
    const { open } = await import('./envelope.js');
    await expect(
      open(keys, 'chunk', { kind: 'chunk', root: keys.root, device: a.id, shard: 0, seq: 1, from: 1, to: 1 }, sealed, 'replayed'),
    ).rejects.toMatchObject({
      code: 'DecryptionFailed',
    });
    expect(remote.keys().length).toBeGreaterThan(0);
    await reader.sync.sync();
    expect(reader.log.state.counterValue('a', 'click')).toBe(1);
  });

  it('a manifest rolled back to an older version: RolledBack, nothing merged twice', async () => {
    const { remote, a, reader } = await setup();
    const manifestKey = remote.keys().find((k) => k.includes('/m/') && remote.peek(k) && k.endsWith(a.sync.ownKey.split('/').pop()!))!;
    const old = remote.peek(manifestKey)!;
    a.log.increment('a', 'click', 5);
    await a.sync.sync();
    await reader.sync.sync();
    expect(reader.log.state.counterValue('a', 'click')).toBe(6);
    remote.set(manifestKey, old); // the store serves the older version again
    const report = await reader.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['RolledBack']);
    expect(reader.log.state.counterValue('a', 'click')).toBe(6);
    // The uploader notices its own manifest went back, too, and refuses to build on it.
    a.log.increment('a', 'click');
    await expect(a.sync.sync()).rejects.toMatchObject({ code: 'RolledBack' });
  });

  it('a device of another user (another key) under this user’s folder: DecryptionFailed; the rest goes on', async () => {
    const { remote, keys, reader } = await setup();
    const stranger = new TestDevice(remote, await userKeys());
    stranger.log.increment('evil', 'click', 1000);
    await stranger.sync.sync();
    // Move the stranger's manifest into this user's folder, as a hostile store could.
    const theirs = remote.keys().find((k) => k.includes('/m/') && !k.startsWith(`tidal/${keys.root}/`))!;
    remote.set(`tidal/${keys.root}/${keys.databaseName('test')}/m/${keys.shardName(0)}/${theirs.split('/').pop()}`, remote.peek(theirs)!);
    const report = await reader.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['DecryptionFailed']);
    expect(reader.log.state.keys().sort()).toEqual(['a', 'b']);
  });

  it('a flipped byte in a manifest: DecryptionFailed', async () => {
    const { remote, a, reader } = await setup();
    const key = remote.keys().find((k) => k.endsWith(a.sync.ownKey.split('/').pop()!))!;
    remote.tamper(key, 30);
    const report = await reader.sync.sync();
    expect(report.refused.map((r) => r.code)).toEqual(['DecryptionFailed']);
    expect(reader.log.state.keys()).toEqual(['b']);
  });
});
