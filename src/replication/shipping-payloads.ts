/**
 * What a shipper sends: payloads of consecutive batches of one segment,
 * each in a buffer of its own (it is transferred). Live followers are fed
 * from `RecentBatches`, a bounded cache of what just committed; a follower
 * further behind is fed from the WAL on storage (`readPayload`), a whole
 * sealed segment at a time where it can.
 *
 *     const payload = recent.payloadFrom(lsn, maxBytes) ?? (await readPayload(wal, lsn, maxBytes));
 */
import type { WalSegmentId } from '../wal/segment-id.js';
import type { CommittedBatch, Wal } from '../wal/wal.js';

/** A run of batches (or a whole sealed segment) ready to send. */
export interface Payload {
  readonly segment: WalSegmentId;
  /** A buffer of its own, exactly `size` bytes, to be handed to the transport. */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly eventCount: number;
  readonly lastLsn: number;
}

interface CachedBatch {
  readonly segment: WalSegmentId;
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly bytes: Uint8Array;
}

/** The most recent committed batches, within `maxBytes` (at least one is kept). */
export class RecentBatches {
  private readonly cache: CachedBatch[] = [];
  private cachedBytes = 0;
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Keeps a copy of a batch just committed, dropping the oldest beyond the bound. */
  add(batch: CommittedBatch): void {
    // The view is valid only now: keep a copy (it is also what gets transferred).
    this.cache.push({ segment: batch.segment, firstLsn: batch.firstLsn, lastLsn: batch.lastLsn, bytes: batch.bytes.slice() });
    this.cachedBytes += batch.bytes.length;
    while (this.cachedBytes > this.maxBytes && this.cache.length > 1) this.cachedBytes -= this.cache.shift()!.bytes.length;
  }

  /** Consecutive cached batches of one segment from the one holding `from`, in a fresh buffer; `undefined` when not cached. */
  payloadFrom(from: number, maxPayloadBytes: number): Payload | undefined {
    const cache = this.cache;
    const first = cache.findIndex((b) => b.firstLsn <= from && from <= b.lastLsn);
    if (first < 0) return undefined;
    const segment = cache[first]!.segment;
    let end = first;
    let size = cache[first]!.bytes.length;
    while (end + 1 < cache.length && cache[end + 1]!.segment.equals(segment) && size + cache[end + 1]!.bytes.length <= maxPayloadBytes) {
      end++;
      size += cache[end]!.bytes.length;
    }
    return concat(segment, cache.slice(first, end + 1));
  }
}

/** What a follower that fell out of the cache needs from `from`, read back from storage; `undefined` when the log does not hold it. */
export async function readPayload(wal: Wal, from: number, maxPayloadBytes: number): Promise<Payload | undefined> {
  const segment = wal.segments().find((s) => s.baseLsn <= from && from <= s.lastLsn);
  if (!segment) return undefined;
  if (segment.sealed && segment.baseLsn === from) {
    const bytes = await wal.readSealedSegment(segment.id);
    return {
      segment: segment.id,
      bytes,
      size: bytes.length,
      eventCount: segment.lastLsn - segment.baseLsn + 1,
      lastLsn: segment.lastLsn,
    };
  }
  const batches: CachedBatch[] = [];
  let size = 0;
  for await (const batch of wal.readBatches(from)) {
    if (!batch.segment.equals(segment.id) || (batches.length > 0 && size + batch.bytes.length > maxPayloadBytes)) break;
    batches.push(batch);
    size += batch.bytes.length;
  }
  return batches.length > 0 ? concat(segment.id, batches) : undefined;
}

/**
 * The batches in one buffer of their own, exactly their size: it is handed
 * to the transport (transferred), so it must never be the cache's copy.
 */
function concat(segment: WalSegmentId, batches: readonly CachedBatch[]): Payload {
  let size = 0;
  for (const b of batches) size += b.bytes.length;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const b of batches) {
    bytes.set(b.bytes, at);
    at += b.bytes.length;
  }
  const first = batches[0]!;
  const last = batches[batches.length - 1]!;
  return { segment, bytes, size, eventCount: last.lastLsn - first.firstLsn + 1, lastLsn: last.lastLsn };
}
