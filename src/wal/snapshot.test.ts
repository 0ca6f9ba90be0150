import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { isTidalError } from '../common/errors.js';
import { MemoryStorage } from './memory-storage.js';
import { decodeSnapshot, encodeSnapshot, parseSnapshotFileName, snapshotFileName } from './snapshot-file.js';
import { databaseIdOf, SnapshotStore } from './snapshot-store.js';
import type { WalStorage } from './storage.js';

const b3 = await loadBlake3();
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const databaseId = databaseIdOf(b3, 'forage');
const body = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 7) & 0xff);
const noYield = async () => undefined;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isTidalError(error) ? error.code : String(error);
  }
  return undefined;
}

/** `storage` with every call it takes written down, in order. */
function countedStorage(storage: WalStorage): { calls: string[]; counted: WalStorage } {
  const calls: string[] = [];
  const counted: WalStorage = {
    description: 'counted',
    list: () => (calls.push('list'), storage.list()),
    open: (name, options) => (calls.push(`open ${name}`), storage.open(name, options)),
    rename: (from, to) => (calls.push(`rename ${from}`), storage.rename(from, to)),
    remove: (name) => (calls.push(`remove ${name}`), storage.remove(name)),
  };
  return { calls, counted };
}
describe('snapshot file format (docs/FORMAT.md §9)', () => {
  it('lays out header, body and digest as specified, and reads back', () => {
    const bytes = encodeSnapshot(b3, { shard: 3, databaseId, lsn: 0x1234, hlcHigh: 0x0192_5f3a_1b2c_0007n, body: body(5) });
    expect(bytes.length).toBe(72 + 5 + 32);
    expect(hex(bytes.subarray(0, 40))).toBe(
      '5444534e' + '0100' + '0000' + '0300' + '0000' + '00000000' + '3412000000000000' + '07002c1b3a5f9201' + '0500000000000000',
    );
    expect(hex(bytes.subarray(40, 72))).toBe(hex(databaseId));
    expect(hex(bytes.subarray(72, 77))).toBe(hex(body(5)));
    expect(hex(bytes.subarray(77))).toBe(hex(b3.hash(bytes.subarray(0, 77))));
    const snapshot = decodeSnapshot(b3, bytes);
    expect(snapshot).toMatchObject({ shard: 3, lsn: 0x1234, hlcHigh: 0x0192_5f3a_1b2c_0007n });
    expect(hex(snapshot.body)).toBe(hex(body(5)));
    expect(snapshotFileName(3, 0x1234)).toBe('0003-0000000000001234.snap');
    expect(parseSnapshotFileName('0003-0000000000001234.snap')).toEqual({ shard: 3, lsn: 0x1234 });
    expect(parseSnapshotFileName('0003-0000000000001234.snap.tmp')).toBeUndefined();
  });

  it('refuses a torn, flipped, padded or newer snapshot with a code, before trusting its body', () => {
    const bytes = encodeSnapshot(b3, { shard: 1, databaseId, lsn: 9, hlcHigh: 0n, body: body(300) });
    for (const cut of [0, 10, 71, 72, 200, bytes.length - 1])
      expect(codeOf(() => decodeSnapshot(b3, bytes.subarray(0, cut)))).toBe('Truncated');
    for (const at of [40, 72, 150, bytes.length - 1]) {
      const flipped = bytes.slice();
      flipped[at] = flipped[at]! ^ 0x10;
      expect(codeOf(() => decodeSnapshot(b3, flipped))).toBe('DigestMismatch');
    }
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes);
    expect(codeOf(() => decodeSnapshot(b3, padded))).toBe('LengthOutOfBounds');
    const newer = bytes.slice();
    newer[4] = 2;
    expect(codeOf(() => decodeSnapshot(b3, newer))).toBe('UnsupportedVersion');
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(32, 1n << 40n, true);
    expect(codeOf(() => decodeSnapshot(b3, huge))).toBe('LengthOutOfBounds');
  });
});

describe('SnapshotStore', () => {
  it('writes through a temporary name, loads the newest, and prunes to the newest two', async () => {
    const storage = new MemoryStorage();
    const store = new SnapshotStore(storage, b3, { shard: 2, databaseId, chunkBytes: 64, yieldToEvents: noYield });
    for (const lsn of [10, 20, 30]) await store.write({ lsn, hlcHigh: BigInt(lsn), body: body(lsn * 10) });
    expect((await storage.list()).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const { snapshot, issues } = await store.loadNewest({ maxLsn: 30 });
    expect(issues).toEqual([]);
    expect(snapshot).toMatchObject({ lsn: 30, hlcHigh: 30n, file: '0002-000000000000001e.snap' });
    expect(hex(snapshot!.body)).toBe(hex(body(300)));
    expect(await store.prune(2)).toEqual(['0002-000000000000000a.snap']);
    expect((await store.list()).map((s) => s.lsn)).toEqual([30, 20]);
  });

  it('knows its files after one listing: a snapshot costs one create, one rename and one remove, and the folder is not listed again', async () => {
    const storage = new MemoryStorage();
    const { calls, counted } = countedStorage(storage);
    const store = new SnapshotStore(counted, b3, { shard: 1, databaseId, yieldToEvents: noYield });
    for (const lsn of [10, 20]) await store.write({ lsn, hlcHigh: 0n, body: body(lsn) });
    calls.length = 0;
    await store.write({ lsn: 30, hlcHigh: 0n, body: body(30) });
    await store.prune(2);
    expect(await store.list()).toMatchObject([{ lsn: 30, bytes: 30 + 104 }, { lsn: 20 }]);
    expect(calls).toEqual([
      'open 0001-000000000000001e.snap.tmp',
      'rename 0001-000000000000001e.snap.tmp',
      'remove 0001-000000000000000a.snap',
    ]);
  });

  it('an open lists the folder once and opens only the snapshot it reads; the kept files are listed with their sizes later', async () => {
    const storage = new MemoryStorage();
    const writer = new SnapshotStore(storage, b3, { shard: 1, databaseId, yieldToEvents: noYield });
    for (const lsn of [10, 20]) await writer.write({ lsn, hlcHigh: 0n, body: body(lsn) });
    storage.put('0001-0000000000000030.snap.tmp', body(7)); // a crash's leftover
    const { calls, counted } = countedStorage(storage);
    const store = new SnapshotStore(counted, b3, { shard: 1, databaseId, yieldToEvents: noYield });
    const { snapshot } = await store.loadNewest({ maxLsn: 20 });
    expect(snapshot).toMatchObject({ lsn: 20, bytes: 20 + 104 });
    expect(calls).toEqual(['list', 'open 0001-0000000000000014.snap']);
    calls.length = 0;
    expect(await store.list()).toMatchObject([
      { lsn: 20, bytes: 20 + 104 },
      { lsn: 10, bytes: 10 + 104 },
    ]);
    expect(calls.sort()).toEqual(['list', 'open 0001-000000000000000a.snap', 'open 0001-0000000000000014.snap']);
    // The leftover, noted by that listing, goes with the next prune.
    expect(await store.prune(2)).toEqual(['0001-0000000000000030.snap.tmp']);
  });

  it('a crash mid-snapshot leaves the previous snapshot as it was, and the torn temporary file is never loaded', async () => {
    const storage = new MemoryStorage();
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId, chunkBytes: 100, yieldToEvents: noYield });
    await store.write({ lsn: 5, hlcHigh: 0n, body: body(50) });
    let chunks = 0;
    const crashing = new SnapshotStore(storage, b3, {
      shard: 0,
      databaseId,
      chunkBytes: 100,
      yieldToEvents: async () => {
        if (++chunks === 3) {
          storage.crash();
          throw new Error('power cut');
        }
      },
    });
    await expect(crashing.write({ lsn: 9, hlcHigh: 0n, body: body(1000) })).rejects.toThrow('power cut');
    const { snapshot, issues } = await store.loadNewest({ maxLsn: 9 });
    expect(issues).toEqual([]);
    expect(snapshot?.lsn).toBe(5);
    expect(await store.prune(2)).toEqual(['0000-0000000000000009.snap.tmp']);
  });

  it('refuses and quarantines a corrupt snapshot, one of another shard or database, and one newer than the log; the next older is used', async () => {
    const storage = new MemoryStorage();
    const store = new SnapshotStore(storage, b3, { shard: 4, databaseId, yieldToEvents: noYield });
    await store.write({ lsn: 100, hlcHigh: 1n, body: body(40) });
    await store.write({ lsn: 200, hlcHigh: 2n, body: body(40) });
    await store.write({ lsn: 300, hlcHigh: 3n, body: body(40) });
    // 300: a flipped bit. 250: another database's. 240: another shard's, under this shard's name. 500: newer than the log.
    const flipped = storage.snapshot('0004-000000000000012c.snap');
    flipped[80] = flipped[80]! ^ 1;
    storage.put('0004-000000000000012c.snap', flipped);
    storage.put(
      '0004-00000000000000fa.snap',
      encodeSnapshot(b3, { shard: 4, databaseId: databaseIdOf(b3, 'other'), lsn: 250, hlcHigh: 0n, body: body(3) }),
    );
    storage.put('0004-00000000000000f0.snap', encodeSnapshot(b3, { shard: 5, databaseId, lsn: 240, hlcHigh: 0n, body: body(3) }));
    await store.write({ lsn: 500, hlcHigh: 5n, body: body(40) });
    const { snapshot, issues } = await store.loadNewest({ maxLsn: 400 });
    expect(snapshot?.lsn).toBe(200);
    expect(issues.map((i) => [i.file, i.code])).toEqual([
      ['0004-00000000000001f4.snap', 'HeaderMismatch'],
      ['0004-000000000000012c.snap', 'Corrupt'],
      ['0004-00000000000000fa.snap', 'HeaderMismatch'],
      ['0004-00000000000000f0.snap', 'WrongShard'],
    ]);
    expect(issues[1]!.message).toContain('DigestMismatch');
    const names = await storage.list();
    for (const issue of issues) {
      expect(names).toContain(issue.quarantinedAs);
      expect(names).not.toContain(issue.file);
    }
  });
});
