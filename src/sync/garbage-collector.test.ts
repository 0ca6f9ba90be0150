/**
 * Garbage collection (docs/SYNC.md §10): objects no manifest references go,
 * after the waits that make it safe for uploads and reads under way; what
 * any manifest references stays; a sweep that cannot read every manifest
 * deletes nothing.
 */
import { describe, expect, it } from 'vitest';
import { MAX_READ_MS, MAX_UPLOAD_MS } from './garbage-collector.js';
import { MemoryRemote } from './memory-remote.js';
import { SyncSpace } from './sync-space.js';
import { TestDevice, userKeys } from './testing/devices.js';
import { ManualClock } from '../common/testing/manual-clock.js';

const encoded = (d: TestDevice) => Buffer.from(d.log.state.encode()).toString('hex');

async function history() {
  const remote = new MemoryRemote();
  const keys = await userKeys();
  const clock = new ManualClock();
  // Snapshots in parts of 40 bytes: every part of the snapshots listed must stay.
  const options = { maxChunkBytes: 1000, snapshotMinBytes: 3000, snapshotPartBytes: 40, clock, collectEveryMs: 60_000 };
  const a = new TestDevice(remote, keys, options);
  const b = new TestDevice(remote, keys, options);
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) a.log.increment(`item:${i % 5}`, 'click');
    await a.sync.sync();
    await b.sync.sync();
  }
  return { remote, keys, clock, options, a, b };
}

const objects = (remote: MemoryRemote) => remote.keys().filter((k) => k.includes('/o/'));

describe('garbage collection', () => {
  it('deletes the chunks and snapshots manifests dropped, only after both waits, and a late joiner still gets everything', async () => {
    const { remote, keys, clock, options, a, b } = await history();
    const before = objects(remote).length;
    expect(a.sync.stats.snapshotsUp).toBeGreaterThan(3);
    const sweep = async (ms: number) => {
      clock.time += ms;
      await b.sync.sync();
      return b.sync.stats.objectsDeleted;
    };
    expect(await sweep(60_000)).toBe(0); // first listed unreferenced
    expect(await sweep(MAX_UPLOAD_MS - 60_000)).toBe(0); // an upload under way could still reference them
    expect(await sweep(60_000)).toBe(0); // now marked unreferenced...
    expect(await sweep(MAX_READ_MS - 60_000)).toBe(0); // ...but a reader may still be reading them
    const deleted = await sweep(60_000);
    expect(deleted).toBeGreaterThan(before / 2);
    const at = new SyncSpace(keys, 'test', a.id, 0, 1);
    const listed = (await at.openManifest(at.ownKey, remote.peek(at.ownKey)!)).snapshot!.parts;
    expect(listed.length).toBeGreaterThan(1);
    for (const part of listed) expect(remote.peek(at.objectKey(part.name))).toBeDefined();
    expect(objects(remote).length).toBe(before - deleted);
    // Nothing referenced went: a device joining now gets everything, and so do the others.
    const late = new TestDevice(remote, keys, options);
    await late.sync.sync();
    expect(late.sync.stats.refused).toEqual({});
    expect(encoded(late)).toBe(encoded(a));
    a.log.increment('item:0', 'click');
    await a.sync.sync();
    await late.sync.sync();
    expect(late.log.state.counterValue('item:0', 'click')).toBe(201);
  });

  it('an orphan of an upload that never swapped its manifest goes; an object put after the first listing waits its own turn', async () => {
    const { remote, clock, a, b } = await history();
    const orphan = objects(remote)[0]!.replace(/[0-9a-f]{64}$/, 'f'.repeat(64));
    remote.set(orphan, new Uint8Array([1, 2, 3]));
    clock.time += 60_000;
    await b.sync.sync(); // first listed now
    clock.time += MAX_UPLOAD_MS;
    const late = orphan.replace(/f{64}$/, 'e'.repeat(64));
    remote.set(late, new Uint8Array([4])); // as an upload under way would
    await b.sync.sync(); // the orphan is marked; the newcomer is first listed
    clock.time += MAX_READ_MS;
    await b.sync.sync();
    expect(remote.peek(orphan)).toBeUndefined();
    expect(remote.peek(late)).toBeDefined();
    expect(a.sync.stats.refused).toEqual({});
  });

  it('a sweep that cannot read a manifest deletes nothing', async () => {
    const { remote, clock, a, b } = await history();
    const before = objects(remote).length;
    const manifest = remote.keys().find((k) => k.endsWith(a.sync.ownKey.split('/').pop()!))!;
    remote.tamper(manifest, 30);
    for (let i = 0; i < 4; i++) {
      clock.time += MAX_UPLOAD_MS + MAX_READ_MS;
      await b.sync.sync();
    }
    expect(objects(remote).length).toBe(before);
    expect(b.sync.stats.objectsDeleted).toBe(0);
  });
});
