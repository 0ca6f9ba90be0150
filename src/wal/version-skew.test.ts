import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { MemoryStorage } from './memory-storage.js';
import { Wal } from './wal.js';

// A log that a newer tidal wrote to (a batch or segment header of a version this build does not read,
// whose own digest verifies) is not damage: opening it refuses with VersionSkew and leaves every file
// exactly as it is, so that nothing the newer tidal acknowledged is cut off or quarantined by an older
// tab. A version field damaged in place (its digest fails) is still damage (wal.fuzz.test.ts).

const SEGMENT_HEADER_BYTES = 72;

async function logOfTwoSegments(): Promise<{ storage: MemoryStorage; names: string[]; lastBatchAt: number }> {
  const storage = new MemoryStorage();
  const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: 512 });
  for (let i = 0; i < 12; i++) await wal.append([`event ${i}`]);
  await wal.close();
  const names = (await storage.list()).sort();
  expect(names.length).toBeGreaterThan(1);
  const last = storage.snapshot(names[names.length - 1]!);
  // The last batch of the open segment: the last 'TDLB' in it.
  let lastBatchAt = -1;
  for (let at = SEGMENT_HEADER_BYTES; at + 4 <= last.length; at++)
    if (last[at] === 0x54 && last[at + 1] === 0x44 && last[at + 2] === 0x4c && last[at + 3] === 0x42) lastBatchAt = at;
  expect(lastBatchAt).toBeGreaterThan(SEGMENT_HEADER_BYTES);
  return { storage, names, lastBatchAt };
}

/** Writes `version` into the header at `at` of file `name` and signs it again, as a newer tidal writing that version would. */
async function rewriteVersion(storage: MemoryStorage, name: string, at: number, version: number, kind: 'segment' | 'batch'): Promise<void> {
  const b3 = await loadBlake3();
  const bytes = storage.snapshot(name);
  new DataView(bytes.buffer).setUint16(at + 4, version, true);
  const payloadLength = kind === 'batch' ? new DataView(bytes.buffer).getUint32(at + 32, true) : 0;
  const covered =
    kind === 'batch' ? [bytes.subarray(at, at + 40), bytes.subarray(at + 72, at + 72 + payloadLength)] : [bytes.subarray(at, at + 40)];
  bytes.set(b3.hash(...covered), at + 40);
  const file = await storage.open(name);
  file.write(bytes, 0);
  file.flush();
  file.close();
}

async function refusedUntouched(storage: MemoryStorage): Promise<void> {
  const before = new Map((await storage.list()).map((name) => [name, storage.snapshot(name)]));
  await expect(Wal.open(storage, { shard: 0, segmentBytes: 512 })).rejects.toMatchObject({ code: 'VersionSkew' });
  expect((await storage.list()).sort()).toEqual([...before.keys()].sort());
  for (const [name, bytes] of before) expect(storage.snapshot(name), name).toEqual(bytes);
}

describe('a log holding a newer format', () => {
  it('a newer batch at the end of the open segment is not cut as a torn tail', async () => {
    const { storage, names, lastBatchAt } = await logOfTwoSegments();
    await rewriteVersion(storage, names[names.length - 1]!, lastBatchAt, 3, 'batch');
    await refusedUntouched(storage);
  });

  it('a segment with a newer header, last or sealed, is not quarantined', async () => {
    for (const which of ['last', 'first'] as const) {
      const { storage, names } = await logOfTwoSegments();
      await rewriteVersion(storage, which === 'last' ? names[names.length - 1]! : names[0]!, 0, 2, 'segment');
      await refusedUntouched(storage);
    }
  });
});
