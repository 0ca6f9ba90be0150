/**
 * The pipelined group commit, on every storage backend: a batch queued
 * behind others is hashed in the helper worker (`BatchHasher`) while those
 * are written. `wal.test.ts` runs these on `MemoryStorage` in Node (no
 * `Worker` there: every digest is computed on the WAL's thread),
 * `wal.browser.test.ts` on OPFS in a dedicated worker in Chromium, with
 * the real helper; `pipeline.test.ts` runs the same steps against an
 * in-thread stand-in for the helper (`FakeHashEndpoint`).
 */
import { isTidalError } from '../../common/errors.js';
import { MIN_REQUEST_BYTES, sharedBatchHasher } from '../batch-hasher.js';
import type { LsnRange } from '../segment-log.js';
import type { WalStorage } from '../storage.js';
import { Wal, type WalOptions } from '../wal.js';
import { FaultyStorage } from './faulty-storage.js';
import { expect, expectEqual, readAll, type FreshStorage } from './wal-scenarios.js';

/** The event of append `i`: a batch of its own of more than `MIN_REQUEST_BYTES`, worth hashing in the helper. */
export const pipelinedEvent = (i: number) => ({ i, note: 'x'.repeat(MIN_REQUEST_BYTES + (i % 5)) });

/** Segments of about seven such batches, so that they roll while appends are queued. */
const SEGMENT_BYTES = 8 * MIN_REQUEST_BYTES;

/**
 * `count` appends of one event each, issued one per microtask (each its own
 * group) with up to `window` outstanding; each append's outcome, in issue
 * order: its range, or its error's code. `onRefused` runs as a refusal arrives.
 */
export async function appendWindowed(
  wal: Wal,
  count: number,
  window: number,
  onRefused: () => void = () => undefined,
): Promise<(LsnRange | string)[]> {
  const outcomes: Promise<LsnRange | string>[] = [];
  for (let i = 0; i < count; i++) {
    outcomes.push(
      wal.append([pipelinedEvent(i)]).catch((error: unknown) => {
        onRefused();
        return isTidalError(error) ? error.code : String(error);
      }),
    );
    if (i >= window - 1) await outcomes[i - window + 1];
    else await null;
  }
  return Promise.all(outcomes);
}

const dense = (count: number) => Array.from({ length: count }, (_, i) => ({ first: i + 1, last: i + 1 }));

/** 60 windowed appends: dense LSNs in issue order, several segment rolls, and a log that reopens clean with every event. */
export async function windowedAppendsHold(storage: WalStorage, options: Partial<WalOptions>): Promise<Wal> {
  const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: SEGMENT_BYTES, ...options });
  expectEqual(await appendWindowed(wal, 60, 4), dense(60), 'every append acknowledged, LSNs dense in issue order');
  expect(wal.segments().filter((s) => s.sealed).length > 3, 'segments rolled meanwhile');
  await wal.close();
  const reopened = await Wal.open(storage, { shard: 0, batchHasher: null });
  expectEqual(reopened.report.issues, [], 'every digest verifies');
  expectEqual(
    (await readAll(reopened.wal)).map((e) => e.event),
    Array.from({ length: 60 }, (_, i) => pipelinedEvent(i)),
    'every event, in order',
  );
  await reopened.wal.close();
  return wal;
}

/**
 * Storage fills up once the batch of LSN 20 is in and has room again once
 * the next batch was refused: that batch alone fails, with `StorageFull`;
 * the ones queued behind it (hashed for the LSNs it would have taken) are
 * committed at the LSNs it left free, and the log reopens clean.
 */
export async function fullStorageMidPipeline(storage: FaultyStorage, options: Partial<WalOptions>): Promise<void> {
  const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: SEGMENT_BYTES, ...options });
  wal.onCommit((batch) => {
    if (batch.firstLsn === 20) storage.fault = 'full';
  });
  const outcomes = await appendWindowed(wal, 40, 4, () => (storage.fault = undefined));
  expectEqual(outcomes[20], 'StorageFull', 'the batch written while storage was full');
  expectEqual(
    outcomes.filter((o) => typeof o !== 'string'),
    dense(39),
    'the rest acknowledged, dense, in issue order',
  );
  await wal.close();
  const reopened = await Wal.open(storage, { shard: 0, batchHasher: null });
  expectEqual(reopened.report.issues, [], 'nothing of the refused batch is in the log, and every digest verifies');
  expectEqual(
    (await readAll(reopened.wal)).map((e) => e.event),
    Array.from({ length: 40 }, (_, i) => pipelinedEvent(i)).filter((_, i) => i !== 20),
    'exactly the acknowledged events',
  );
  await reopened.wal.close();
}

/** Every scenario, by name. */
export const pipelineScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async 'appends queued behind a write are hashed in the helper worker where there is one; LSNs, order and every digest hold'(fresh) {
    const hasher = sharedBatchHasher();
    const used = hasher.counts.used;
    await windowedAppendsHold(await fresh(), {});
    if (typeof Worker === 'function') expect(hasher.counts.used > used, 'the helper worker computed digests');
  },

  async 'a batch refused by full storage while others are queued behind it fails alone; they take the LSNs it left free'(fresh) {
    await fullStorageMidPipeline(new FaultyStorage(await fresh()), {});
  },
};
