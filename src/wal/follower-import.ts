/**
 * Follower import: a follower's log is a copy of its leader's, byte for
 * byte, so what a follower receives is not appended as new events but
 * imported as the leader wrote it: whole batches (live shipping) or whole
 * sealed segments (catch-up), with their bytes, digests and HLCs kept.
 * The caller has verified the bytes (FollowerDb does, on receipt); here
 * they are walked for structure and must continue the log's LSNs exactly.
 *
 * `Wal.importBatches` and `Wal.importSealedSegment` run these on the
 * commit chain, after the appends issued before them.
 */
import type { Blake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { decodeBatch } from './format.js';
import { scanSegment } from './segment-scan.js';
import type { LsnRange, SegmentLog } from './segment-log.js';
import type { WalSegmentId } from './segment-id.js';
import type { WalFile, WalStorage } from './storage.js';

/** A batch just committed, as `Wal.onCommit` listeners see it. */
export interface CommittedBatch {
  /** The segment the batch was written to. */
  readonly segment: WalSegmentId;
  /** LSN of the batch's first event. */
  readonly firstLsn: number;
  /** LSN of the batch's last event. */
  readonly lastLsn: number;
  /** The whole batch as written; a view valid only during the listener call. */
  readonly bytes: Uint8Array;
}

/** What an import needs of the WAL it writes into. */
export interface ImportContext {
  readonly storage: WalStorage;
  readonly b3: Blake3;
  readonly log: SegmentLog;
  readonly durable: boolean;
  /** Tells the WAL's commit listeners about a batch now in the log. */
  notify(batch: CommittedBatch): void;
}

/** Appends whole, verified batches continuing the log's LSNs; flushes once (durable mode). */
export async function importBatches(context: ImportContext, batches: readonly Uint8Array[]): Promise<LsnRange> {
  const { log, b3 } = context;
  const first = log.nextLsn;
  let file: WalFile | undefined;
  const committed: CommittedBatch[] = [];
  for (const batch of batches) {
    const { header, end } = decodeBatch(b3, batch, 0, { verify: false });
    if (end !== batch.length) throw new TidalError('HeaderMismatch', `imported batch is ${batch.length} bytes but its header says ${end}`);
    if (header.shard !== undefined && header.shard !== log.shard) {
      throw new TidalError('HeaderMismatch', `imported batch belongs to shard ${header.shard}, this log to shard ${log.shard}`);
    }
    if (header.firstLsn !== log.nextLsn) {
      throw new TidalError('HeaderMismatch', `imported batch starts at LSN ${header.firstLsn}, this log continues at ${log.nextLsn}`);
    }
    try {
      file = await log.fileFor(batch.length);
    } catch (error) {
      throw log.fail(error);
    }
    const segment = log.writeBatch(file, batch, header.firstLsn, header.eventCount);
    committed.push({ segment, firstLsn: header.firstLsn, lastLsn: header.firstLsn + header.eventCount - 1, bytes: batch });
  }
  if (file && context.durable) log.guard(() => file.flush());
  for (const batch of committed) context.notify(batch);
  return { first, last: log.nextLsn - 1 };
}

/**
 * Adds a whole sealed segment in one write. It must start at the log's
 * next LSN, and the log must be at a segment boundary (its last segment
 * sealed, or open with nothing in it); otherwise `HeaderMismatch`, and the
 * caller imports the batches one by one.
 */
export async function importSealedSegment(context: ImportContext, id: WalSegmentId, bytes: Uint8Array): Promise<LsnRange> {
  const { log, b3 } = context;
  if (id.shard !== log.shard) throw new TidalError('WrongShard', `segment ${id.fileName()} is not of shard ${log.shard}`);
  const scan = scanSegment(b3, bytes, id, false, { footerVerified: true });
  if (scan.kind !== 'good' || !scan.sealed) throw new TidalError('Corrupt', `segment ${id.fileName()} is not a whole sealed segment`);
  if (scan.header.baseLsn !== log.nextLsn) {
    throw new TidalError(
      'HeaderMismatch',
      `segment ${id.fileName()} starts at LSN ${scan.header.baseLsn}, this log continues at ${log.nextLsn}`,
    );
  }
  const last = log.last;
  const replacesEmpty = last !== undefined && !last.sealed && last.offsets.length === 0 && last.id.equals(id);
  if (last && !last.sealed && !replacesEmpty) {
    throw new TidalError(
      'HeaderMismatch',
      `this log's segment ${last.id.fileName()} is open; segment ${id.fileName()} cannot follow it whole`,
    );
  }
  if (!replacesEmpty && id.seq < log.nextSeq) {
    throw new TidalError('HeaderMismatch', `segment seq ${id.seq} is behind this log's next seq ${log.nextSeq}`);
  }
  if (replacesEmpty) {
    last.file?.close();
    log.segments.pop();
  }
  await log.dropSpare(); // it may hold this very name open
  const file = await context.storage.open(id.fileName(), { create: true });
  try {
    log.guard(() => {
      file.truncate(0);
      file.write(bytes, 0);
      if (context.durable) file.flush();
    });
  } finally {
    file.close();
  }
  log.adoptSealed({
    id,
    baseLsn: scan.header.baseLsn,
    lastLsn: scan.lastLsn,
    sealed: true,
    dataEnd: scan.dataEnd,
    offsets: scan.index.offsets,
    firstLsns: scan.index.firstLsns,
    file: undefined,
  });
  for (const [i, start] of scan.index.offsets.entries()) {
    const end = scan.index.offsets[i + 1] ?? scan.dataEnd;
    const firstLsn = scan.index.firstLsns[i]!;
    const nextFirst = scan.index.firstLsns[i + 1] ?? scan.lastLsn + 1;
    context.notify({ segment: id, firstLsn, lastLsn: nextFirst - 1, bytes: bytes.subarray(start, end) });
  }
  return { first: scan.header.baseLsn, last: scan.lastLsn };
}
