/**
 * `Wal.appendEncoded(batch, count)`: a batch its caller encoded (header
 * gap, then payload) commits as one batch of its own, after the appends
 * issued before it and before those after, its bytes written where they
 * are; it reads back, and after a restart (its digest verified) too.
 */
import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { BATCH_HEADER_V2_BYTES, decodeBatch } from './format.js';
import { MemoryStorage } from './memory-storage.js';
import { encodePayload } from './payload.js';
import { Wal } from './wal.js';

/** `events`' payload behind a header gap, at `offset` in a larger buffer (as a caller building around its bytes has it). */
function encodedBatch(events: string[], offset = 0): Uint8Array {
  const payload = encodePayload(events);
  const buffer = new Uint8Array(offset + BATCH_HEADER_V2_BYTES + payload.length + 5);
  const batch = buffer.subarray(offset, offset + BATCH_HEADER_V2_BYTES + payload.length);
  batch.set(payload, BATCH_HEADER_V2_BYTES);
  return batch;
}

describe('Wal.appendEncoded', () => {
  it('commits an encoded batch in its turn, between the appends before and after it, and replays it after a restart', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0 });
    const written: Uint8Array[] = [];
    wal.onCommit((batch) => written.push(batch.bytes.slice()));
    const batch = encodedBatch(['c', 'd'], 11);
    const committed: unknown[] = [];
    const ranges = await Promise.all([
      wal.append(['a', 'b']),
      wal.appendEncoded(batch, 2, (range) => committed.push(range)),
      wal.append(['e']),
    ]);
    expect(ranges).toEqual([
      { first: 1, last: 2 },
      { first: 3, last: 4 },
      { first: 5, last: 5 },
    ]);
    expect(committed).toEqual([{ first: 3, last: 4 }]);
    expect(written).toHaveLength(3);
    expect(written[1]).toEqual(batch); // written as it is, its header filled in where the gap was
    const found = decodeBatch(await loadBlake3(), written[1]!, 0); // its digest verified: it covers exactly these bytes
    expect(found.header).toMatchObject({ eventCount: 2, firstLsn: 3, payloadLength: batch.length - BATCH_HEADER_V2_BYTES });
    const read: unknown[] = [];
    for await (const { event } of wal.read(1)) read.push(event);
    expect(read).toEqual(['a', 'b', 'c', 'd', 'e']);
    await wal.close();
    const { wal: again } = await Wal.open(storage, { shard: 0 });
    const replayed: unknown[] = [];
    for await (const { event } of again.read(1)) replayed.push(event);
    expect(replayed).toEqual(['a', 'b', 'c', 'd', 'e']);
    await again.close();
  });

  it('refuses a batch of no event or without its payload version (InvalidArgument), one over maxBatchBytes (PayloadTooLarge): nothing appended', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0, maxBatchBytes: 64 });
    await expect(wal.appendEncoded(encodedBatch(['a']), 0)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(wal.appendEncoded(new Uint8Array(BATCH_HEADER_V2_BYTES + 3), 1)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(wal.appendEncoded(encodedBatch(['x'.repeat(100)]), 1)).rejects.toMatchObject({ code: 'PayloadTooLarge' });
    expect(wal.lastLsn).toBe(0);
    expect(await wal.append(['ok'])).toEqual({ first: 1, last: 1 });
    await wal.close();
  });
});
