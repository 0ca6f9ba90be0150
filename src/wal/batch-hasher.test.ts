import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { BatchHasher, MAX_IN_FLIGHT, MIN_REQUEST_BYTES } from './batch-hasher.js';
import { BATCH_HEADER_V2_BYTES, batchDigestV2, writeBatchFieldsV2 } from './format.js';
import { FakeHashEndpoint } from './testing/fake-hash-endpoint.js';

/** A v2 batch of `payloadBytes` bytes of payload derived from `seed`, header fields filled. */
function batchOf(seed: number, payloadBytes = MIN_REQUEST_BYTES): Uint8Array {
  const batch = new Uint8Array(BATCH_HEADER_V2_BYTES + payloadBytes);
  for (let i = BATCH_HEADER_V2_BYTES; i < batch.length; i++) batch[i] = (i * 13 + seed) & 0xff;
  writeBatchFieldsV2(batch, { shard: 2, eventCount: 3, firstLsn: 10 + seed, hlc: 77n });
  return batch;
}

describe('BatchHasher', () => {
  it("hands out the helper's digest of exactly the bytes it was sent, and reuses the buffers it hands back", async () => {
    const b3 = await loadBlake3();
    const endpoint = new FakeHashEndpoint(b3, 'manual');
    const hasher = new BatchHasher(() => endpoint);
    const batch = batchOf(1);
    const request = hasher.request(batch)!;
    const sent = endpoint.unanswered[0]!.bytes;
    batch.fill(0); // the copy went out when asked: what the caller does to its bytes afterwards is not hashed
    endpoint.answer();
    expect(await hasher.digestOf(request)).toEqual(batchDigestV2(b3, batchOf(1)));
    hasher.request(batchOf(2));
    expect(endpoint.unanswered[0]!.bytes).toBe(sent);
    expect(hasher.counts).toEqual({ requested: 2, used: 1 });
  });

  it('gives up on a digest not back after a turn or two: the caller hashes it, and the late answer is dropped', async () => {
    const endpoint = new FakeHashEndpoint(await loadBlake3(), 'manual');
    const hasher = new BatchHasher(() => endpoint);
    const request = hasher.request(batchOf(1))!;
    expect(await hasher.digestOf(request)).toBeUndefined();
    endpoint.answer();
    expect(hasher.counts.used).toBe(0);
    expect(hasher.available).toBe(true);
  });

  it('stops asking a helper that leaves MAX_IN_FLIGHT requests unanswered, and asks again once it answers', async () => {
    const endpoint = new FakeHashEndpoint(await loadBlake3(), 'manual');
    const hasher = new BatchHasher(() => endpoint);
    for (let i = 0; i < MAX_IN_FLIGHT; i++) expect(hasher.request(batchOf(i))).toBeDefined();
    expect(hasher.request(batchOf(99))).toBeUndefined();
    endpoint.answer(1);
    expect(hasher.request(batchOf(100))).toBeDefined();
  });

  it('abandons a helper that crashes: what it owed is left to the callers at once, and nothing is asked of it again', async () => {
    const endpoint = new FakeHashEndpoint(await loadBlake3(), 'manual');
    const hasher = new BatchHasher(() => endpoint);
    const owed = [hasher.request(batchOf(1))!, hasher.request(batchOf(2))!];
    endpoint.crash();
    for (const request of owed) expect(await hasher.digestOf(request)).toBeUndefined();
    expect(endpoint.terminated).toBe(true);
    expect(hasher.available).toBe(false);
    expect(hasher.request(batchOf(3))).toBeUndefined();
  });

  it('abandons a helper that answers something other than a reply, and uses nothing of it', async () => {
    const endpoint = new FakeHashEndpoint(await loadBlake3(), 'manual');
    const hasher = new BatchHasher(() => endpoint);
    const garbled = hasher.request(batchOf(1))!;
    const next = hasher.request(batchOf(2))!;
    endpoint.garble();
    expect(await hasher.digestOf(garbled)).toBeUndefined();
    expect(await hasher.digestOf(next)).toBeUndefined();
    expect(hasher.available).toBe(false);
  });

  it('leaves batches too small to be worth the round trip to the caller, without starting the helper', async () => {
    let started = 0;
    const endpoint = new FakeHashEndpoint(await loadBlake3(), 'auto');
    const hasher = new BatchHasher(() => (started++, endpoint));
    expect(hasher.request(batchOf(1, MIN_REQUEST_BYTES - BATCH_HEADER_V2_BYTES - 1))).toBeUndefined();
    expect(started).toBe(0);
    expect(hasher.request(batchOf(1, MIN_REQUEST_BYTES - BATCH_HEADER_V2_BYTES))).toBeDefined();
    expect(started).toBe(1);
  });

  it('is unavailable where no helper can be started', () => {
    const hasher = new BatchHasher(() => undefined);
    expect(hasher.request(batchOf(1))).toBeUndefined();
    expect(hasher.available).toBe(false);
    const throwing = new BatchHasher(() => {
      throw new Error('no workers here');
    });
    expect(throwing.request(batchOf(1))).toBeUndefined();
  });
});
