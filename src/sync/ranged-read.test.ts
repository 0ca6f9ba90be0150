import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { MemoryRemote } from './memory-remote.js';
import { RANGE_BYTES, readObject } from './ranged-read.js';
import { RequestPool } from './request-pool.js';
import { ENVELOPE_VERSION_BYTE, seal } from './envelope.js';
import { SyncKeys } from './sync-key.js';
import { SyncSpace } from './sync-space.js';
import { CountingRemote, initialStats } from './sync-stats.js';

const SIZE = 2 * RANGE_BYTES + 12_345; // three ranges

function setup() {
  const store = new MemoryRemote();
  const stats = initialStats(0, 0);
  return { store, stats, remote: new CountingRemote(store, stats), pool: new RequestPool(3) };
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

describe('readObject', () => {
  it('reads a large object in ranges into its listed size, counted as one object', async () => {
    const { store, stats, remote, pool } = setup();
    await store.putIfAbsent('o/big', pattern(SIZE));
    const before = store.counters.requests;
    const read = await readObject(remote, pool, 'o/big', SIZE, 'big');
    // Compared as bytes at once (a deep equality of 8 MiB element by element takes minutes).
    expect(read && Buffer.from(read).equals(pattern(SIZE))).toBe(true);
    expect(store.counters.requests - before).toBe(3);
    expect(stats).toMatchObject({ objectsDown: 1, bytesDown: SIZE, requests: 3 });
  });

  it('reads a small object with one GET, and answers undefined for a missing one', async () => {
    const { store, remote, pool } = setup();
    await store.putIfAbsent('o/small', pattern(100));
    expect(await readObject(remote, pool, 'o/small', 100, 'small')).toEqual(pattern(100));
    expect(await readObject(remote, pool, 'o/none', SIZE, 'none')).toBeUndefined();
  });

  it('refuses an object of another size than listed: ObjectMismatch (shorter, even when the later ranges start past its end), PayloadTooLarge (longer)', async () => {
    const { store, remote, pool } = setup();
    await store.putIfAbsent('o/short', pattern(SIZE - 1000));
    const short = await readObject(remote, pool, 'o/short', SIZE, 'short').catch((e: unknown) => e);
    expect(isTidalError(short, 'ObjectMismatch')).toBe(true);
    await store.putIfAbsent('o/long', pattern(SIZE + 1));
    const long = await readObject(remote, pool, 'o/long', SIZE, 'long').catch((e: unknown) => e);
    expect(isTidalError(long, 'PayloadTooLarge')).toBe(true);
    await store.putIfAbsent('o/cut', pattern(RANGE_BYTES));
    const cut = await readObject(remote, pool, 'o/cut', SIZE, 'cut').catch((e: unknown) => e);
    expect(isTidalError(cut, 'ObjectMismatch')).toBe(true); // its first range answers with the store's size
  });

  it('hashes the ranges of an object named by all its bytes (snapshot version 1) into a name stream in order as they land: the name of the whole object, and a changed byte is ObjectMismatch before anything is opened', async () => {
    const { store, remote, pool } = setup();
    const keys = await SyncKeys.from(new Uint8Array(32).fill(7));
    const at = new SyncSpace(keys, 'db', 'a'.repeat(32), 0, 1);
    const context = at.snapshotContext('a'.repeat(32), 5);
    const sealed = await seal(keys, 'snapshot', context, pattern(SIZE), 1);
    const name = keys.objectName(sealed);
    await store.putIfAbsent('o/sealed', sealed);
    const other = keys.objectNameStream(); // a stream interleaved with the read's keeps its own state
    other.update(pattern(10));
    const names = keys.objectNameStream();
    const read = await readObject(remote, pool, 'o/sealed', sealed.byteLength, 'sealed', names);
    expect(names.bytes).toBe(2 * Math.ceil(sealed.byteLength / 3)); // the first two of three ranges; the last is hashed by the check
    expect(other.name()).toBe(keys.objectName(pattern(10)));
    const opened = await at.checkAndOpen(name, read!, 'snapshot', context, 'sealed', names);
    expect(names.bytes).toBe(sealed.byteLength);
    expect(names.name()).toBe(name);
    expect(Buffer.from(opened).equals(pattern(SIZE))).toBe(true);

    for (const [offset, where] of [
      [RANGE_BYTES + 1, 'second'],
      [sealed.byteLength - 20, 'last'],
    ] as const) {
      const changed = Uint8Array.from(sealed);
      changed[offset]! ^= 1; // in the second range, then in the last (hashed by the check)
      await store.putIfAbsent(`o/changed-${where}`, changed);
      const changedNames = keys.objectNameStream();
      const got = await readObject(remote, pool, `o/changed-${where}`, changed.byteLength, where, changedNames);
      const refused = await at.checkAndOpen(name, got!, 'snapshot', context, where, changedNames).catch((e: unknown) => e);
      expect(isTidalError(refused, 'ObjectMismatch')).toBe(true);
    }
  });

  it('an object named by its header, nonce and tag (snapshot version 2) has none of its ranges hashed; a changed byte is refused, nothing opened: ObjectMismatch in those, DecryptionFailed in the ciphertext', async () => {
    const { store, remote, pool } = setup();
    const keys = await SyncKeys.from(new Uint8Array(32).fill(7));
    const at = new SyncSpace(keys, 'db', 'a'.repeat(32), 0, 1);
    const context = at.snapshotContext('a'.repeat(32), 5);
    const sealed = await seal(keys, 'snapshot', context, pattern(SIZE), 2);
    expect(sealed[ENVELOPE_VERSION_BYTE]).toBe(2);
    const name = keys.objectName(sealed);
    await store.putIfAbsent('o/sealed', sealed);
    const names = keys.objectNameStream();
    const read = await readObject(remote, pool, 'o/sealed', sealed.byteLength, 'sealed', names);
    expect(names.bytes).toBe(0);
    const opened = await at.checkAndOpen(name, read!, 'snapshot', context, 'sealed', names);
    expect(Buffer.from(opened).equals(pattern(SIZE))).toBe(true);

    for (const [offset, where, code] of [
      [ENVELOPE_VERSION_BYTE, 'the version byte (2 to 3)', 'ObjectMismatch'],
      [10, 'the nonce', 'ObjectMismatch'],
      [RANGE_BYTES + 1, 'the ciphertext, second range', 'DecryptionFailed'],
      [sealed.byteLength - 20, 'the ciphertext, last range', 'DecryptionFailed'],
      [sealed.byteLength - 5, 'the tag', 'ObjectMismatch'],
    ] as const) {
      const changed = Uint8Array.from(sealed);
      changed[offset]! ^= 1;
      await store.putIfAbsent(`o/changed-${offset}`, changed);
      const changedNames = keys.objectNameStream();
      const got = await readObject(remote, pool, `o/changed-${offset}`, changed.byteLength, where, changedNames);
      const refused = await at.checkAndOpen(name, got!, 'snapshot', context, where, changedNames).catch((e: unknown) => e);
      expect([where, isTidalError(refused) ? refused.code : String(refused)]).toEqual([where, code]);
    }
    // Named as version 1 would be (all its bytes): not its name.
    const all = keys.objectNameStream();
    all.update(sealed);
    expect(all.name()).not.toBe(name);
  });
});
