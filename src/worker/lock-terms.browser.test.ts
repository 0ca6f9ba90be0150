import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.js';
import { shardChannels } from './channels.js';
import { databaseFolder, takeLockTerm, termFileName } from './lock-terms.js';

// Lock terms on the real OPFS of Chromium's main thread, where the lock's callback runs.
const db = `lock-terms-${Math.random().toString(36).slice(2)}`;
const options = (shard: number) => ({ db, shard, legacyKey: shardChannels(db, shard).term, clock: systemClock });

async function folder(): Promise<FileSystemDirectoryHandle> {
  let dir = await navigator.storage.getDirectory();
  for (const part of databaseFolder(db)) dir = await dir.getDirectoryHandle(part, { create: true });
  return dir;
}

async function names(): Promise<string[]> {
  const found: string[] = [];
  const dir = (await folder()) as unknown as { keys(): AsyncIterableIterator<string> }; // lib.dom lags on keys()
  for await (const name of dir.keys()) found.push(name);
  return found.sort();
}

afterEach(async () => {
  const root = await navigator.storage.getDirectory();
  await (await root.getDirectoryHandle('tidal')).removeEntry(db, { recursive: true }).catch(() => undefined);
  for (const shard of [0, 1]) localStorage.removeItem(shardChannels(db, shard).term);
});

describe('takeLockTerm', () => {
  it('gives every grant of a lock a term above every earlier one, kept per shard in OPFS', async () => {
    const terms: number[] = [];
    for (let i = 0; i < 5; i++) {
      terms.push(await navigator.locks.request(shardChannels(db, 0).lock, () => takeLockTerm(options(0))));
    }
    expect(terms).toEqual([1, 2, 3, 4, 5]);
    expect(await takeLockTerm(options(1))).toBe(1);
    // One file per shard is kept: the newest term.
    expect(await names()).toEqual([termFileName(0, 5), termFileName(1, 1)]);
  });

  it('does not repeat a term when localStorage reads stale (as another renderer may see it)', async () => {
    for (let i = 0; i < 3; i++) await takeLockTerm(options(0));
    // The count in localStorage as a renderer that has not seen the last grants reads it.
    localStorage.setItem(shardChannels(db, 0).term, '1');
    expect(await takeLockTerm(options(0))).toBe(4);
    expect(localStorage.getItem(shardChannels(db, 0).term), 'kept for tabs of an older tidal').toBe('4');
  });

  it('stays above a term an older tidal took through localStorage alone', async () => {
    await takeLockTerm(options(0));
    localStorage.setItem(shardChannels(db, 0).term, '9');
    expect(await takeLockTerm(options(0))).toBe(10);
  });

  it('is not lowered by a grant that read the count and wrote its term late', async () => {
    for (let i = 0; i < 6; i++) await takeLockTerm(options(0));
    // A tab that read the count at 2 and stalled, its lock taken meanwhile, writes term 3 now.
    await (await folder()).getFileHandle(termFileName(0, 3), { create: true });
    localStorage.removeItem(shardChannels(db, 0).term);
    expect(await takeLockTerm(options(0))).toBe(7);
    expect(await names()).toEqual([termFileName(0, 7)]);
  });

  it('gives grants queued at once distinct, increasing terms', async () => {
    const terms = await Promise.all(
      Array.from({ length: 8 }, () => navigator.locks.request(shardChannels(db, 0).lock, () => takeLockTerm(options(0)))),
    );
    expect([...terms].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
