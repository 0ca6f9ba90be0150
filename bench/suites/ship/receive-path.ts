/**
 * The follower's receive path taken apart (`limit.blake3.receiver` and the
 * breakdown the suite prints when a target is missed): BLAKE3 alone, the
 * segment scan, event decoding, the copy into a WAL, a whole-file write, all
 * over the leader's sealed segments kept in this worker.
 */
import { createBlake3, loadBlake3, type Blake3 } from '../../../src/common/blake3.js';
import { TidalError } from '../../../src/common/errors.js';
import { decodeBatch } from '../../../src/wal/format.js';
import { OpfsStorage } from '../../../src/wal/opfs-storage.js';
import { decodePayload } from '../../../src/wal/payload.js';
import { scanSegment } from '../../../src/wal/segment-scan.js';
import { WalSegmentId } from '../../../src/wal/segment-id.js';
import { Wal } from '../../../src/wal/wal.js';
import { SHARD, freshPath, mbPerS, type ReceivePathBreakdown } from './common.js';

let segments: Uint8Array[] = [];
let portable: Promise<Blake3> | undefined;

/** The receive-path measurements' part of the worker's API. */
export const receivePathApi = {
  /** Follower: keeps `bytes` (the leader's sealed segments) for the limit and the breakdown. */
  setSegments(bytes: Uint8Array[]): void {
    segments = bytes;
  },

  /**
   * Follower: `limit.blake3.receiver`, one round: the package's BLAKE3 (FollowerDb's) over each kept
   * segment, MB/s; with `'wasm'`, hash-wasm's build instead (`limit.blake3_hash_wasm.receiver`).
   */
  async blake3Round(implementation: 'loaded' | 'wasm' = 'loaded'): Promise<number> {
    const b3 = implementation === 'loaded' ? await loadBlake3() : await (portable ??= createBlake3('wasm'));
    let bytes = 0;
    const started = performance.now();
    for (const segment of segments) {
      b3.hash(segment);
      bytes += segment.length;
    }
    return mbPerS(bytes, performance.now() - started);
  },

  /** Follower: the receive path taken apart over the kept segments (see `ReceivePathBreakdown`). */
  async breakdown(): Promise<ReceivePathBreakdown> {
    const b3 = await loadBlake3();
    const total = segments.reduce((n, s) => n + s.length, 0);
    let started = performance.now();
    for (const segment of segments) b3.hash(segment);
    const blake3 = mbPerS(total, performance.now() - started);

    const offsets: number[][] = [];
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const scan = scanSegment(b3, segment, new WalSegmentId(SHARD, BigInt(i)), false);
      if (scan.kind !== 'good' || !scan.sealed) throw new TidalError('Corrupt', `segment ${i} does not scan as sealed`);
      offsets.push([...scan.index.offsets]);
    }
    const scan = mbPerS(total, performance.now() - started);

    const batches: Uint8Array[][] = [];
    let events = 0;
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const views: Uint8Array[] = [];
      for (const start of offsets[i]!) {
        const { header, payloadStart, end } = decodeBatch(b3, segment, start, { verify: false });
        events += decodePayload(segment.subarray(payloadStart, end), header.eventCount).length;
        views.push(segment.subarray(start, end));
      }
      batches.push(views);
    }
    const decode = mbPerS(total, performance.now() - started);
    if (events === 0) throw new TidalError('Corrupt', 'no events decoded');

    const path = freshPath('import');
    const storage = await OpfsStorage.open(path);
    const { wal } = await Wal.open(storage, { shard: SHARD });
    let importWal: number;
    try {
      started = performance.now();
      for (const views of batches) await wal.importBatches(views);
      importWal = mbPerS(total, performance.now() - started);
    } finally {
      await wal.close();
    }
    started = performance.now();
    for (const [i, segment] of segments.entries()) {
      const file = await storage.open(`whole-${i}.wal`, { create: true });
      try {
        file.write(segment, 0);
        file.flush();
      } finally {
        file.close();
      }
    }
    const writeWhole = mbPerS(total, performance.now() - started);
    await OpfsStorage.destroy(path);
    return { blake3, scan, decode, importWal, writeWhole };
  },
};

/** Lets go of the kept segments. */
export function clearSegments(): void {
  segments = [];
}
