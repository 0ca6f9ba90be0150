/**
 * Snapshots sealed and stored as parts (docs/SYNC.md §9, envelope version
 * 3): a joiner merges the parts' plaintext as one snapshot; a store (or a
 * device with a bug) that reorders, drops, swaps, truncates or replaces
 * parts is refused with a code and nothing of the snapshot is merged; a
 * snapshot stored whole by builds before parts (manifest version 2,
 * envelope version 2) is still read.
 */
import { describe, expect, it } from 'vitest';
import { Encoder } from '../common/bytes.js';
import { encodeValue } from '../wal/payload.js';
import { ENVELOPE_VERSION_BYTE, seal } from './envelope.js';
import { decodeManifest, encodeManifest, encodeSnapshotBody, snapshotParts, type Manifest } from './format.js';
import { MemoryRemote } from './memory-remote.js';
import { SyncSpace } from './sync-space.js';
import { TestDevice, userKeys } from './testing/devices.js';
import type { SyncKeys } from './sync-key.js';

const encoded = (d: TestDevice) => Buffer.from(d.log.state.encode()).toString('hex');
/** Small chunks and parts: after 6 rounds the manifest's chunks no longer reach back to LSN 1, so a joiner must read the snapshot. */
const options = { maxChunkBytes: 1000, snapshotMinBytes: 3000, snapshotPartBytes: 700 };

/** A device whose manifest lists a snapshot of several parts that a joiner must start from. */
async function snapshotInParts() {
  const remote = new MemoryRemote();
  const keys = await userKeys();
  const a = new TestDevice(remote, keys, options);
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 20; i++) a.log.set(`item:${round * 20 + i}`, 'title', `title ${round}/${i} `.repeat(4));
    a.log.increment('item:0', 'click');
    await a.sync.sync();
  }
  const at = new SyncSpace(keys, 'test', a.id, 0, 1);
  const manifest = await at.openManifest(at.ownKey, remote.peek(at.ownKey)!);
  expect(manifest.base).toBeGreaterThan(0); // the chunks listed start after the snapshot's LSN: a joiner reads it
  const parts = manifest.snapshot!.parts.map((p) => at.objectKey(p.name));
  expect(parts.length).toBeGreaterThanOrEqual(4);
  return { remote, keys, a, at, manifest, parts };
}

/** Replaces `a`'s manifest with `changed` (sealed with the user's key: what a device with a bug could write). */
async function forgeManifest(remote: MemoryRemote, at: SyncSpace, manifest: Manifest, changed: Partial<Manifest>): Promise<void> {
  const { sealed } = await at.sealer.seal('manifest', at.manifestContext(at.ownKey), encodeManifest({ ...manifest, ...changed }));
  remote.set(at.ownKey, sealed);
}

/** A joiner's first sync: the codes it refused, and that it merged nothing at all. */
async function joinRefused(remote: MemoryRemote, keys: SyncKeys): Promise<string[]> {
  const late = new TestDevice(remote, keys, options);
  const report = await late.sync.sync();
  expect(late.log.state.keys()).toEqual([]);
  expect(late.log.lastLsn).toBe(0);
  expect(late.sync.stats.snapshotsMerged).toBe(0);
  return report.refused.map((r) => r.code);
}

describe('snapshots in parts', () => {
  it('a snapshot is stored as parts of envelope version 3; a joiner merges them as one snapshot, to the same state', async () => {
    const { remote, keys, a, manifest, parts } = await snapshotInParts();
    for (const key of parts) expect(remote.peek(key)![ENVELOPE_VERSION_BYTE]).toBe(3);
    const sizes = manifest.snapshot!.parts.map((p) => p.size);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(manifest.snapshot!.size);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(700 + 36);
    const late = new TestDevice(remote, keys, options);
    const report = await late.sync.sync();
    expect(report.refused).toEqual([]);
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(encoded(late)).toBe(encoded(a));
    expect(late.log.state.counterValue('item:0', 'click')).toBe(6);
  });

  it('a flipped byte in a part: its ciphertext DecryptionFailed, its header ObjectMismatch; nothing merged', async () => {
    const { remote, keys, parts } = await snapshotInParts();
    const original = remote.peek(parts[2]!)!;
    remote.tamper(parts[2]!, 40);
    expect(await joinRefused(remote, keys)).toEqual(['DecryptionFailed']);
    remote.set(parts[2]!, original);
    remote.tamper(parts[2]!, 9); // the nonce: named with the header and the tag
    expect(await joinRefused(remote, keys)).toEqual(['ObjectMismatch']);
  });

  it('parts swapped under each other names, a part dropped, a part truncated: refused, nothing merged', async () => {
    const { remote, keys, parts } = await snapshotInParts();
    const [first, second] = [remote.peek(parts[0]!)!, remote.peek(parts[1]!)!];
    remote.set(parts[0]!, second);
    remote.set(parts[1]!, first);
    expect(await joinRefused(remote, keys)).toEqual(['ObjectMismatch']);
    remote.set(parts[0]!, first);
    remote.set(parts[1]!, second);

    const last = remote.peek(parts[parts.length - 1]!)!;
    await remote.delete(parts[parts.length - 1]!);
    expect(await joinRefused(remote, keys)).toEqual(['ObjectMismatch']);
    remote.set(parts[parts.length - 1]!, last.subarray(0, last.byteLength - 20));
    expect(await joinRefused(remote, keys)).toEqual(['ObjectMismatch']);
  });

  it('a part sealed under another user key, at the same place: ObjectMismatch, nothing merged', async () => {
    const { remote, keys, at, manifest, parts } = await snapshotInParts();
    const other = new SyncSpace(await userKeys(), 'test', at.device, 0, 1);
    const count = parts.length;
    const context = { ...other.snapshotPartContext(at.device, manifest.snapshot!.lsn, 1, count), space: at.space };
    remote.set(parts[1]!, await seal(other.keys, 'snapshot', context, new Uint8Array(manifest.snapshot!.parts[1]!.size - 36), 3));
    expect(await joinRefused(remote, keys)).toEqual(['ObjectMismatch']);
  });

  it('a manifest that lists the parts reordered, fewer of them, or one twice: DecryptionFailed (each part binds its index and the count)', async () => {
    const { remote, keys, at, manifest } = await snapshotInParts();
    const snapshot = manifest.snapshot!;
    const listing = (parts: typeof snapshot.parts) => ({
      snapshot: { ...snapshot, parts, size: parts.reduce((sum, p) => sum + p.size, 0) },
    });
    const [p0, p1, ...rest] = snapshot.parts;
    await forgeManifest(remote, at, manifest, listing([p1!, p0!, ...rest]));
    expect(await joinRefused(remote, keys)).toEqual(['DecryptionFailed']);
    await forgeManifest(remote, at, manifest, listing(snapshot.parts.slice(0, -1)));
    expect(await joinRefused(remote, keys)).toEqual(['DecryptionFailed']);
    await forgeManifest(remote, at, manifest, listing([p0!, p0!, ...rest]));
    expect(await joinRefused(remote, keys)).toEqual(['DecryptionFailed']);
    // The parts of the snapshot at another LSN: the context binds it too.
    await forgeManifest(remote, at, manifest, { snapshot: { ...snapshot, lsn: snapshot.lsn + 1 }, base: manifest.base });
    expect(await joinRefused(remote, keys)).toEqual(['DecryptionFailed']);
    // The listing as written merges.
    await forgeManifest(remote, at, manifest, {});
    const late = new TestDevice(remote, keys, options);
    expect((await late.sync.sync()).refused).toEqual([]);
    expect(late.sync.stats.snapshotsMerged).toBe(1);
  });

  it('a snapshot stored whole by builds before parts (manifest 2, envelope 2) is read; one listed among several parts is refused', async () => {
    const { remote, keys, a, at, manifest, parts: keysOfParts } = await snapshotInParts();
    // The layout builds before 2026-12 wrote: the whole body sealed as one object of envelope version 2, listed as
    // `snapshot: { name, size, lsn }` in a manifest of version 2. The body: the parts' plaintexts, one after the other.
    const lsn = manifest.snapshot!.lsn;
    const count = keysOfParts.length;
    const opened = await Promise.all(
      manifest.snapshot!.parts.map((p, i) =>
        at.checkAndOpen(p.name, remote.peek(keysOfParts[i]!)!, 'snapshot', at.snapshotPartContext(a.id, lsn, i, count), 'part'),
      ),
    );
    const body = new Uint8Array(Buffer.concat(opened));
    const whole = await seal(keys, 'snapshot', at.snapshotContext(a.id, lsn), body, 2);
    const name = keys.objectName(whole);
    await remote.putIfAbsent(at.objectKey(name), whole);
    const v2 = new Encoder(1024);
    encodeValue(v2, {
      v: 2,
      device: manifest.device,
      shard: 0,
      shards: 1,
      epoch: manifest.epoch,
      version: manifest.version + 1,
      lsn: manifest.lsn,
      head: manifest.head,
      entries: manifest.entries.map((e) => ({ seq: e.seq, name: e.name, size: e.size, from: e.from, to: e.to })),
      older: manifest.older,
      base: manifest.base,
      snapshot: { name, size: whole.byteLength, lsn },
    });
    const { sealed } = await at.sealer.seal('manifest', at.manifestContext(at.ownKey), v2.toBytes());
    remote.set(at.ownKey, sealed);
    const read = decodeManifest(v2.toBytes(), 'v2');
    expect(read.snapshot).toEqual({ lsn, size: whole.byteLength, parts: [{ name, size: whole.byteLength }] });

    const late = new TestDevice(remote, keys, options);
    expect((await late.sync.sync()).refused).toEqual([]);
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(encoded(late)).toBe(encoded(a));

    // The whole object listed as one part among others: refused as malformed, nothing merged.
    const parts = [{ name, size: whole.byteLength }, ...manifest.snapshot!.parts];
    const size = parts.reduce((sum, p) => sum + p.size, 0);
    await forgeManifest(remote, at, manifest, { snapshot: { lsn, size, parts } });
    expect(await joinRefused(remote, keys)).toEqual(['MalformedMessage']);
  });

  it('parts that open but whose state does not decode (a device with a bug): MalformedMessage once all are in, nothing merged', async () => {
    const { remote, keys, a, at, manifest } = await snapshotInParts();
    const lsn = manifest.snapshot!.lsn;
    const state = a.log.state.encode();
    // A state whose last byte is out of range, and one cut short: each sealed in parts as a writer would.
    const changed = state.slice();
    changed[changed.length - 1] = 0xff;
    for (const bad of [changed, state.subarray(0, state.length - 3)]) {
      const body = encodeSnapshotBody({ lsn, cursors: new Map(), state: bad });
      const { count, partBytes } = snapshotParts(body.byteLength, 700);
      const contexts = Array.from({ length: count }, (_, i) => at.snapshotPartContext(a.id, lsn, i, count));
      const sealed = await Promise.all(at.sealer.sealParts('snapshot', contexts, body, partBytes, 3));
      for (const p of sealed) await remote.putIfAbsent(at.objectKey(p.name), p.sealed);
      const parts = sealed.map((p) => ({ name: p.name, size: p.sealed.byteLength }));
      await forgeManifest(remote, at, manifest, { snapshot: { lsn, size: parts.reduce((sum, p) => sum + p.size, 0), parts } });
      expect(await joinRefused(remote, keys)).toEqual(['MalformedMessage']);
    }
  });

  it('a manifest whose snapshot parts do not add up to its size, or list none, or a part too small to hold a byte: MalformedMessage', async () => {
    const { manifest } = await snapshotInParts();
    const snapshot = manifest.snapshot!;
    const bad = [
      { ...snapshot, size: snapshot.size + 1 },
      { ...snapshot, parts: [], size: 0 },
      { ...snapshot, parts: [{ name: snapshot.parts[0]!.name, size: 36 }], size: 36 },
    ];
    for (const s of bad) {
      expect(() => decodeManifest(encodeManifest({ ...manifest, snapshot: s }), 'bad')).toThrowError(
        expect.objectContaining({ code: 'MalformedMessage' }),
      );
    }
  });
});
