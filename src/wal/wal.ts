/**
 * `Wal`: one shard's write-ahead log on a `WalStorage`.
 *
 *     const { wal, report } = await Wal.open(storage, { shard: 3 });
 *     const range = await wal.append([{ op: 'increment', key: 'a' }]); // { first, last } LSNs
 *     for await (const { lsn, event } of wal.read(1)) ...
 *     await wal.close();
 *
 * Appends issued in the same tick share one batch (group commit): each
 * `append` encodes its events at once (so a bad value fails that call
 * alone), and a microtask writes everything pending as one batch, one
 * storage write, one flush. In durable mode (the default) the promise
 * resolves only after the flush. Segments roll at a size bound and a sealed
 * segment is never written again. Opening runs recovery (segment-scan.ts)
 * and returns its report.
 */
import { loadBlake3, type Blake3, type IncrementalBlake3 } from '../common/blake3.js';
import { Encoder } from '../common/bytes.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { assertShardId, type ShardId } from '../shard/shard-id.js';
import {
  BATCH_HEADER_V2_BYTES,
  decodeBatch,
  decodeSegmentHeader,
  encodeSegmentFooter,
  encodeSegmentHeader,
  fillBatchHeaderV2,
  MAX_LSN,
  SEGMENT_FOOTER_BYTES,
  SEGMENT_HEADER_BYTES,
  type BatchHeader,
} from './format.js';
import { decodePayload, encodeValue, PAYLOAD_VERSION, type Value } from './payload.js';
import { scanSegment, type BatchIndex } from './segment-scan.js';
import { WalSegmentId } from './segment-id.js';
import type { WalFile, WalStorage } from './storage.js';

/** Options of `Wal.open`. */
export interface WalOptions {
  /** The shard whose log this is. */
  readonly shard: ShardId;
  /** Resolve appends only after the batch is flushed to storage. Default `true`. */
  readonly durable?: boolean;
  /** Segment size bound in bytes, header and footer included. Default 4 MiB. */
  readonly segmentBytes?: number;
  /** Largest payload of one batch; a single `append` larger than this is refused. Default 16 MiB. */
  readonly maxBatchBytes?: number;
  /** Stamps batches and segments with an HLC (see docs/FORMAT.md §4). Default: wall-clock ms << 16. */
  readonly hlc?: () => bigint;
}

/** A range of LSNs, inclusive at both ends. */
export interface LsnRange {
  readonly first: number;
  readonly last: number;
}

/** One thing recovery found wrong and what it did about it. */
export interface RecoveryIssue {
  readonly code: 'Corrupt' | 'HeaderMismatch';
  readonly message: string;
  /** The segment file concerned, when there is one. */
  readonly segment?: string;
  /** The name the damaged file was kept under. */
  readonly quarantinedAs?: string;
  /** LSNs the log no longer holds because of it, when known. */
  readonly missing?: LsnRange;
}

/** What `Wal.open` found and did. */
export interface RecoveryReport {
  /** Segments kept in the log. */
  readonly segments: number;
  readonly batches: number;
  readonly events: number;
  /** Bytes read and verified. */
  readonly bytes: number;
  /** Bytes of torn tail cut off the last segment. */
  readonly bytesCut: number;
  /** Damage found; empty when the log was clean. */
  readonly issues: readonly RecoveryIssue[];
  /** The last LSN in the log (0 when empty). */
  readonly lastLsn: number;
}

/** A committed batch as read back from the log. */
export interface WalBatch {
  readonly segment: WalSegmentId;
  readonly header: BatchHeader;
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** The whole batch, header and payload, exactly as stored (already verified). */
  readonly bytes: Uint8Array;
  /** The payload part of `bytes`. */
  readonly payload: Uint8Array;
}

/** Options of `Wal.read` and `Wal.readBatches`. */
export interface WalReadOptions {
  /** Check every batch digest as it is read. Default `true`. */
  readonly verify?: boolean;
}

/** A batch just committed, as `Wal.onCommit` listeners see it. */
export interface CommittedBatch {
  readonly segment: WalSegmentId;
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** The whole batch as written; a view valid only during the listener call. */
  readonly bytes: Uint8Array;
}

/** A segment of the log as the WAL tracks it. */
export interface WalSegmentInfo {
  readonly id: WalSegmentId;
  readonly baseLsn: number;
  /** baseLsn − 1 when empty. */
  readonly lastLsn: number;
  readonly sealed: boolean;
  readonly bytes: number;
}

interface Segment extends BatchIndex {
  readonly id: WalSegmentId;
  readonly baseLsn: number;
  lastLsn: number;
  sealed: boolean;
  /** Offset just past the last batch (where the next batch or the footer goes). */
  dataEnd: number;
  /** Open handle, if any. The active segment always has one. */
  file: WalFile | undefined;
}

/** Appends waiting for the next group commit. */
interface PendingGroup {
  readonly encoder: Encoder;
  eventCount: number;
  /** Set once the group is queued for commit; no append joins it after that. */
  queued: boolean;
  readonly waiters: { count: number; resolve(range: LsnRange): void; reject(error: unknown): void }[];
}

const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** Sealed segments kept open for reading at once (OPFS handles are a limited resource). */
const MAX_OPEN_READ_HANDLES = 8;

const wallClockHlc = (): bigint => BigInt(Date.now()) << 16n;

function quarantineName(name: string, taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) {
    const candidate = `${name}.quarantined-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** One shard's write-ahead log. */
export class Wal {
  readonly shard: ShardId;
  readonly durable: boolean;
  private readonly segmentBytes: number;
  private readonly maxBatchBytes: number;
  private readonly hlc: () => bigint;
  private readonly segmentsInLog: Segment[] = [];
  private readonly gaps: LsnRange[] = [];
  private nextLsnValue: number;
  private nextSeq: bigint;
  /** Running digest of the active segment, for its footer. */
  private activeDigest: IncrementalBlake3;
  /** The running digest has not yet been fed the open segment recovered from storage. */
  private digestBehind = false;
  private pending: PendingGroup | undefined;
  private readonly spareEncoders: Encoder[] = [];
  /** The chain of group commits, so that they run one after another. */
  private committing: Promise<void> = Promise.resolve();
  private failure: TidalError | undefined;
  private closed = false;
  private readonly storage: WalStorage;
  private readonly b3: Blake3;

  private constructor(
    storage: WalStorage,
    b3: Blake3,
    options: WalOptions,
    activeDigest: IncrementalBlake3,
    nextLsn: number,
    nextSeq: bigint,
  ) {
    this.storage = storage;
    this.b3 = b3;
    this.shard = options.shard;
    this.durable = options.durable ?? true;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.hlc = options.hlc ?? wallClockHlc;
    this.activeDigest = activeDigest;
    this.nextLsnValue = nextLsn;
    this.nextSeq = nextSeq;
  }

  /**
   * Opens the shard's log on `storage`, recovering it: every segment is
   * verified, a torn tail is cut, damaged segments are quarantined. The
   * report says what was found.
   */
  static async open(storage: WalStorage, options: WalOptions): Promise<{ wal: Wal; report: RecoveryReport }> {
    // Recovery opens handles as it goes; if it fails, none may stay open (OPFS handles are exclusive).
    const opened: WalFile[] = [];
    const tracked: WalStorage = {
      description: storage.description,
      list: () => storage.list(),
      open: async (name, openOptions) => {
        const file = await storage.open(name, openOptions);
        opened.push(file);
        return file;
      },
      rename: (from, to) => storage.rename(from, to),
      remove: (name) => storage.remove(name),
    };
    try {
      return await Wal.recover(tracked, storage, options);
    } catch (error) {
      for (const file of opened) {
        try {
          file.close();
        } catch {
          // already gone
        }
      }
      throw error;
    }
  }

  private static async recover(storage: WalStorage, own: WalStorage, options: WalOptions): Promise<{ wal: Wal; report: RecoveryReport }> {
    assertShardId(options.shard, 'WalOptions.shard');
    for (const [name, value, min] of [
      ['segmentBytes', options.segmentBytes, SEGMENT_HEADER_BYTES + SEGMENT_FOOTER_BYTES + BATCH_HEADER_V2_BYTES + 1],
      ['maxBatchBytes', options.maxBatchBytes, 1],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < min || value > 0xffffffff)) {
        throw new TidalError('InvalidArgument', `WalOptions.${name} must be an integer in ${min}..2^32-1, got ${value}`);
      }
    }
    const b3 = await loadBlake3();
    const names = await storage.list();
    const taken = new Set(names);
    const ids = names
      .filter((name) => WalSegmentId.isName(name))
      .map((name) => WalSegmentId.parse(name))
      .filter((id) => id.shard === options.shard)
      .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));

    const issues: RecoveryIssue[] = [];
    const kept: Segment[] = [];
    const gaps: LsnRange[] = [];
    let batches = 0;
    let events = 0;
    let bytesRead = 0;
    let bytesCut = 0;
    let lastLsn = 0;
    let highestClaimed = 0;
    const activeDigest = await b3.incremental();

    const quarantine = async (name: string, file: WalFile): Promise<string> => {
      file.close();
      const to = quarantineName(name, taken);
      await storage.rename(name, to);
      taken.add(to);
      return to;
    };

    // Pass 1, from the end, headers only: drop a last segment that was never started, and set
    // aside trailing files whose header is unreadable or disagrees with their name, so that "the
    // last segment" (the only one allowed to be open) is the last one that belongs to the log.
    // (A bad header further back is found by the full scan of pass 2.)
    let end = ids.length;
    let lastHandle: WalFile | undefined;
    while (end > 0) {
      const id = ids[end - 1]!;
      const name = id.fileName();
      const file = await storage.open(name);
      const size = file.size();
      const head = new Uint8Array(Math.min(size, SEGMENT_HEADER_BYTES));
      file.read(head, 0);
      let problem: { code: 'Corrupt' | 'HeaderMismatch'; message: string } | undefined;
      try {
        const header = decodeSegmentHeader(b3, head);
        if (header.shard !== id.shard || header.seq !== id.seq) {
          problem = {
            code: 'HeaderMismatch',
            message: `file name says shard ${id.shard} seq ${id.seq}, header says shard ${header.shard} seq ${header.seq}`,
          };
        }
      } catch (error) {
        if (!isTidalError(error)) throw error;
        if (end === ids.length && size <= SEGMENT_HEADER_BYTES) {
          // A crash while creating the segment: nothing in it was ever written.
          file.close();
          await storage.remove(name);
          bytesCut += size;
          end--;
          continue;
        }
        problem = { code: 'Corrupt', message: `segment header: ${error.message}` };
      }
      if (problem) {
        const quarantinedAs = await quarantine(name, file);
        issues.unshift({ code: problem.code, message: `${name}: ${problem.message}`, segment: name, quarantinedAs });
        end--;
        continue;
      }
      lastHandle = file;
      break;
    }
    const belonging = ids.slice(0, end);

    // Pass 2: every segment in full, each read into one reused buffer.
    let buffer = new Uint8Array(0);
    for (const [i, id] of belonging.entries()) {
      const name = id.fileName();
      const isLast = i === belonging.length - 1;
      const file = isLast && lastHandle ? lastHandle : await storage.open(name);
      const size = file.size();
      if (size > buffer.length) buffer = new Uint8Array(Math.max(size, buffer.length * 2));
      const bytes = buffer.subarray(0, size);
      file.read(bytes, 0);
      bytesRead += bytes.length;
      let scan = scanSegment(b3, bytes, id, isLast);

      if (scan.kind === 'unstarted') throw new TidalError('Corrupt', `${name}: header vanished during recovery`);
      if (scan.kind === 'damaged') {
        highestClaimed = Math.max(highestClaimed, scan.highestLsn);
        const quarantinedAs = await quarantine(name, file);
        issues.push({ code: scan.code, message: `${name}: ${scan.message}`, segment: name, quarantinedAs });
        if (!scan.keep) continue;
        // The open segment: write its verified prefix back under its own name.
        const prefix = scan.keep;
        const rewritten = await storage.open(name, { create: true });
        rewritten.write(bytes.subarray(0, prefix.dataEnd), 0);
        rewritten.flush();
        scan = prefix;
        kept.push(Wal.segmentFrom(id, scan, rewritten));
      } else {
        if (scan.tornBytes > 0) {
          file.truncate(scan.dataEnd);
          file.flush();
          bytesCut += scan.tornBytes;
        }
        if (scan.sealed) file.close();
        kept.push(Wal.segmentFrom(id, scan, scan.sealed ? undefined : file));
      }

      const segment = kept[kept.length - 1]!;
      if (segment.baseLsn !== lastLsn + 1) {
        if (segment.baseLsn <= lastLsn) {
          // Overlapping LSNs: this segment cannot be part of the log.
          kept.pop();
          segment.file?.close();
          const quarantinedAs = await quarantine(name, await storage.open(name));
          issues.push({
            code: 'HeaderMismatch',
            message: `${name}: starts at LSN ${segment.baseLsn}, but the log already reached ${lastLsn}`,
            segment: name,
            quarantinedAs,
          });
          continue;
        }
        const missing = { first: lastLsn + 1, last: segment.baseLsn - 1 };
        gaps.push(missing);
        issues.push({ code: 'Corrupt', message: `LSNs ${missing.first}..${missing.last} are missing from the log`, missing });
      }
      batches += segment.offsets.length;
      events += segment.lastLsn - segment.baseLsn + 1;
      lastLsn = Math.max(lastLsn, segment.lastLsn, segment.baseLsn - 1);
    }

    // The open segment's running digest (for its footer) is fed on the first append, not here:
    // a log opened only to be read never needs it.
    const active = kept[kept.length - 1];
    // Quarantined data may have held LSNs past the last kept one: never hand them out again.
    if (highestClaimed > lastLsn) {
      const missing = { first: lastLsn + 1, last: highestClaimed };
      gaps.push(missing);
      issues.push({ code: 'Corrupt', message: `LSNs ${missing.first}..${missing.last} were in quarantined segments`, missing });
    }
    const nextLsn = Math.max(lastLsn, highestClaimed) + 1;
    const nextSeq = ids.length > 0 ? ids[ids.length - 1]!.seq + 1n : 0n;
    const wal = new Wal(own, b3, options, activeDigest, nextLsn, nextSeq);
    wal.digestBehind = active !== undefined && !active.sealed;
    wal.segmentsInLog.push(...kept);
    wal.gaps.push(...gaps);
    return {
      wal,
      report: { segments: kept.length, batches, events, bytes: bytesRead, bytesCut, issues, lastLsn: nextLsn - 1 },
    };
  }

  private static segmentFrom(
    id: WalSegmentId,
    scan: Extract<ReturnType<typeof scanSegment>, { kind: 'good' }>,
    file: WalFile | undefined,
  ): Segment {
    return {
      id,
      baseLsn: scan.header.baseLsn,
      lastLsn: scan.lastLsn,
      sealed: scan.sealed,
      dataEnd: scan.dataEnd,
      offsets: scan.index.offsets,
      firstLsns: scan.index.firstLsns,
      file,
    };
  }

  /** The LSN the next appended event will get. */
  get nextLsn(): number {
    return this.nextLsnValue;
  }

  /** The last committed LSN (0 when the log is empty). */
  get lastLsn(): number {
    return this.nextLsnValue - 1;
  }

  /** The segments of the log, oldest first. */
  segments(): WalSegmentInfo[] {
    return this.segmentsInLog.map((s) => ({
      id: s.id,
      baseLsn: s.baseLsn,
      lastLsn: s.lastLsn,
      sealed: s.sealed,
      bytes: s.dataEnd + (s.sealed ? SEGMENT_FOOTER_BYTES : 0),
    }));
  }

  /** LSN ranges the log lost to damage (see the recovery report). */
  missingRanges(): readonly LsnRange[] {
    return this.gaps;
  }

  private assertUsable(): void {
    if (this.closed) throw new TidalError('Closed', `the WAL of shard ${this.shard} is closed`);
    if (this.failure) {
      throw new TidalError('StorageError', `the WAL of shard ${this.shard} failed earlier and must be reopened: ${this.failure.message}`, {
        cause: this.failure,
      });
    }
  }

  /**
   * Appends events; resolves with their LSN range once the batch holding
   * them is written (and flushed, when durable). Events issued in the same
   * tick share one batch. Throws `Unencodable` at once for a value the
   * payload encoding refuses (nothing of the call is appended), and
   * `PayloadTooLarge` for more than `maxBatchBytes` of encoded events.
   */
  append(events: readonly Value[]): Promise<LsnRange> {
    try {
      this.assertUsable();
      if (!Array.isArray(events)) throw new TidalError('InvalidArgument', 'append takes an array of events');
      if (events.length === 0) return Promise.resolve({ first: this.nextLsnValue, last: this.nextLsnValue - 1 });
      let group = this.pending;
      const encoder = group?.encoder ?? this.takeEncoder();
      const start = encoder.length;
      try {
        for (let i = 0; i < events.length; i++) encodeValue(encoder, events[i] as Value);
      } catch (error) {
        encoder.length = start;
        if (!group) this.spareEncoders.push(encoder);
        if (isTidalError(error) && error.code === 'Unencodable') {
          const index = events.findIndex((event) => {
            try {
              encodeValue(new Encoder(64), event);
              return false;
            } catch {
              return true;
            }
          });
          throw new TidalError('Unencodable', `events[${index}]: ${error.message}`, { cause: error });
        }
        throw error;
      }
      const added = encoder.length - start;
      if (added > this.maxBatchBytes) {
        encoder.length = start;
        if (!group) this.spareEncoders.push(encoder);
        throw new TidalError(
          'PayloadTooLarge',
          `append of ${added} encoded bytes exceeds maxBatchBytes (${this.maxBatchBytes}); split it`,
          {
            details: { size: added, max: this.maxBatchBytes },
          },
        );
      }
      if (group && encoder.length - BATCH_HEADER_V2_BYTES - 1 > this.maxBatchBytes) {
        // This call would make the group's batch too large: commit the group without it.
        const moved = encoder.bytesView().slice(start);
        encoder.length = start;
        this.scheduleCommit(group, true);
        group = undefined;
        const fresh = this.takeEncoder();
        fresh.writeRaw(moved);
        return this.join(undefined, fresh, events.length);
      }
      return this.join(group, encoder, events.length);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private takeEncoder(): Encoder {
    const encoder = this.spareEncoders.pop() ?? new Encoder(64 * 1024);
    encoder.length = 0;
    encoder.writeRaw(new Uint8Array(BATCH_HEADER_V2_BYTES)); // the header is filled in at commit
    encoder.writeU8(PAYLOAD_VERSION);
    return encoder;
  }

  private join(group: PendingGroup | undefined, encoder: Encoder, count: number): Promise<LsnRange> {
    if (!group) {
      group = { encoder, eventCount: 0, waiters: [], queued: false };
      this.pending = group;
      this.scheduleCommit(group, false);
    }
    group.eventCount += count;
    const joined = group;
    return new Promise<LsnRange>((resolve, reject) => joined.waiters.push({ count, resolve, reject }));
  }

  /** Queues the group's commit after the commits before it; `now` closes the group to new appends at once. */
  private scheduleCommit(group: PendingGroup, now: boolean): void {
    const run = () => {
      if (group.queued) return;
      group.queued = true;
      if (this.pending === group) this.pending = undefined;
      this.committing = this.committing.then(() => this.commit(group));
    };
    if (now) run();
    else queueMicrotask(run);
  }

  private async commit(group: PendingGroup): Promise<void> {
    try {
      this.assertUsable();
      const batch = group.encoder.bytesView();
      const file = await this.segmentFor(batch.length);
      const firstLsn = this.nextLsnValue;
      if (firstLsn + group.eventCount - 1 > MAX_LSN) throw new TidalError('LengthOutOfBounds', `shard ${this.shard} has run out of LSNs`);
      fillBatchHeaderV2(this.b3, batch, { shard: this.shard, eventCount: group.eventCount, firstLsn, hlc: this.hlc() });
      const segment = this.writeBatch(file, batch, firstLsn, group.eventCount);
      if (this.durable) this.guard(() => file.flush());
      let lsn = firstLsn;
      for (const waiter of group.waiters) {
        waiter.resolve({ first: lsn, last: lsn + waiter.count - 1 });
        lsn += waiter.count;
      }
      this.notify({ segment, firstLsn, lastLsn: firstLsn + group.eventCount - 1, bytes: batch });
    } catch (error) {
      for (const waiter of group.waiters) waiter.reject(error);
    } finally {
      if (group.encoder.length <= 1024 * 1024) this.spareEncoders.push(group.encoder);
    }
  }

  /**
   * Appends batches that another replica's log already holds, byte for
   * byte (a follower's copy of its leader's log). Each must be a whole,
   * verified batch (`decodeBatch` of the received bytes) continuing this
   * log's LSNs exactly; its bytes, digest and HLC are kept as they are.
   * Runs after the appends before it and flushes once (durable mode).
   */
  importBatches(batches: readonly Uint8Array[]): Promise<LsnRange> {
    const run = async (): Promise<LsnRange> => {
      this.assertUsable();
      const first = this.nextLsnValue;
      let file: WalFile | undefined;
      const committed: CommittedBatch[] = [];
      for (const batch of batches) {
        const { header, end } = decodeBatch(this.b3, batch, 0, { verify: false });
        if (end !== batch.length)
          throw new TidalError('HeaderMismatch', `imported batch is ${batch.length} bytes but its header says ${end}`);
        if (header.shard !== undefined && header.shard !== this.shard) {
          throw new TidalError('HeaderMismatch', `imported batch belongs to shard ${header.shard}, this log to shard ${this.shard}`);
        }
        if (header.firstLsn !== this.nextLsnValue) {
          throw new TidalError(
            'HeaderMismatch',
            `imported batch starts at LSN ${header.firstLsn}, this log continues at ${this.nextLsnValue}`,
          );
        }
        file = await this.segmentFor(batch.length);
        const segment = this.writeBatch(file, batch, header.firstLsn, header.eventCount);
        committed.push({ segment, firstLsn: header.firstLsn, lastLsn: header.firstLsn + header.eventCount - 1, bytes: batch });
      }
      if (file && this.durable) this.guard(() => file.flush());
      for (const batch of committed) this.notify(batch);
      return { first, last: this.nextLsnValue - 1 };
    };
    return this.afterPending(run);
  }

  /**
   * Adds a whole sealed segment of another replica's log (a follower's copy
   * of its leader's), byte for byte, in one write. The caller must have
   * verified `bytes` against the footer digest (FollowerDb does, on
   * receipt); here they are walked for structure. The segment must start at
   * this log's next LSN, and the log must be at a segment boundary (its
   * last segment sealed, or open with nothing in it); otherwise
   * `HeaderMismatch`, and the caller imports the batches one by one.
   */
  importSealedSegment(id: WalSegmentId, bytes: Uint8Array): Promise<LsnRange> {
    const run = async (): Promise<LsnRange> => {
      this.assertUsable();
      if (id.shard !== this.shard) throw new TidalError('WrongShard', `segment ${id.fileName()} is not of shard ${this.shard}`);
      const scan = scanSegment(this.b3, bytes, id, false, { footerVerified: true });
      if (scan.kind !== 'good' || !scan.sealed) throw new TidalError('Corrupt', `segment ${id.fileName()} is not a whole sealed segment`);
      if (scan.header.baseLsn !== this.nextLsnValue) {
        throw new TidalError(
          'HeaderMismatch',
          `segment ${id.fileName()} starts at LSN ${scan.header.baseLsn}, this log continues at ${this.nextLsnValue}`,
        );
      }
      const last = this.segmentsInLog[this.segmentsInLog.length - 1];
      const replacesEmpty = last !== undefined && !last.sealed && last.offsets.length === 0 && last.id.equals(id);
      if (last && !last.sealed && !replacesEmpty) {
        throw new TidalError(
          'HeaderMismatch',
          `this log's segment ${last.id.fileName()} is open; segment ${id.fileName()} cannot follow it whole`,
        );
      }
      if (!replacesEmpty && id.seq < this.nextSeq) {
        throw new TidalError('HeaderMismatch', `segment seq ${id.seq} is behind this log's next seq ${this.nextSeq}`);
      }
      if (replacesEmpty) {
        last.file?.close();
        this.segmentsInLog.pop();
      }
      const file = await this.storage.open(id.fileName(), { create: true });
      try {
        this.guard(() => {
          file.truncate(0);
          file.write(bytes, 0);
          if (this.durable) file.flush();
        });
      } finally {
        file.close();
      }
      this.segmentsInLog.push({
        id,
        baseLsn: scan.header.baseLsn,
        lastLsn: scan.lastLsn,
        sealed: true,
        dataEnd: scan.dataEnd,
        offsets: scan.index.offsets,
        firstLsns: scan.index.firstLsns,
        file: undefined,
      });
      this.nextSeq = id.seq + 1n;
      this.nextLsnValue = scan.lastLsn + 1;
      this.activeDigest.reset();
      this.digestBehind = false;
      for (const [i, start] of scan.index.offsets.entries()) {
        const end = scan.index.offsets[i + 1] ?? scan.dataEnd;
        const firstLsn = scan.index.firstLsns[i]!;
        const nextFirst = scan.index.firstLsns[i + 1] ?? scan.lastLsn + 1;
        this.notify({ segment: id, firstLsn, lastLsn: nextFirst - 1, bytes: bytes.subarray(start, end) });
      }
      return { first: scan.header.baseLsn, last: scan.lastLsn };
    };
    return this.afterPending(run);
  }

  /** Runs `operation` on the commit chain, after every append issued so far. */
  private afterPending<T>(operation: () => Promise<T>): Promise<T> {
    if (this.pending) this.scheduleCommit(this.pending, true);
    const result = this.committing.then(operation);
    this.committing = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Calls `listener` after each batch is committed (written, and flushed in
   * durable mode), with a view of its bytes that is valid only during the
   * call: copy what you keep. Returns a function that removes the listener.
   */
  onCommit(listener: (batch: CommittedBatch) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private readonly commitListeners = new Set<(batch: CommittedBatch) => void>();

  private notify(batch: CommittedBatch): void {
    for (const listener of this.commitListeners) {
      try {
        listener(batch);
      } catch {
        // A listener's failure is its own; the commit stands.
      }
    }
  }

  /** The open segment's file, with room for `batchBytes` more (sealing and starting segments as needed). */
  private async segmentFor(batchBytes: number): Promise<WalFile> {
    let active = this.segmentsInLog[this.segmentsInLog.length - 1];
    if (active && !active.sealed && active.offsets.length > 0 && active.dataEnd + batchBytes + SEGMENT_FOOTER_BYTES > this.segmentBytes) {
      this.seal(active);
    }
    active = this.segmentsInLog[this.segmentsInLog.length - 1];
    if (!active || active.sealed) active = await this.startSegment();
    return active.file!;
  }

  /** Feeds the running digest the recovered open segment's bytes, once, before it grows or is sealed. */
  private catchUpDigest(segment: Segment): void {
    if (!this.digestBehind) return;
    const head = new Uint8Array(segment.dataEnd);
    segment.file!.read(head, 0);
    this.activeDigest.update(head);
    this.digestBehind = false;
  }

  /** Writes one whole batch at the end of the open segment and indexes it; returns the segment's id. */
  private writeBatch(file: WalFile, batch: Uint8Array, firstLsn: number, eventCount: number): WalSegmentId {
    const active = this.segmentsInLog[this.segmentsInLog.length - 1]!;
    this.catchUpDigest(active);
    this.guard(() => file.write(batch, active.dataEnd));
    this.activeDigest.update(batch);
    active.offsets.push(active.dataEnd);
    active.firstLsns.push(firstLsn);
    active.dataEnd += batch.length;
    active.lastLsn = firstLsn + eventCount - 1;
    this.nextLsnValue = active.lastLsn + 1;
    return active.id;
  }

  /** Runs a storage operation; a failure leaves the log in an unknown state, so the WAL stops until reopened. */
  private guard(operation: () => void): void {
    try {
      operation();
    } catch (error) {
      // What reached storage is unknown now; recovery on reopen will tell.
      this.failure = isTidalError(error) ? error : new TidalError('StorageError', String(error), { cause: error });
      throw this.failure;
    }
  }

  /** Writes the footer of the active segment and flushes it: the segment is never written again. */
  private seal(segment: Segment): void {
    this.catchUpDigest(segment);
    const file = segment.file!;
    const footer = encodeSegmentFooter({
      batchCount: segment.offsets.length,
      eventCount: segment.lastLsn - segment.baseLsn + 1,
      lastLsn: segment.lastLsn,
      digest: this.activeDigest.digest(),
    });
    this.guard(() => {
      file.write(footer, segment.dataEnd);
      file.flush();
    });
    segment.sealed = true;
    file.close();
    segment.file = undefined;
  }

  private async startSegment(): Promise<Segment> {
    const id = new WalSegmentId(this.shard, this.nextSeq);
    const header = encodeSegmentHeader(this.b3, { shard: this.shard, seq: id.seq, baseLsn: this.nextLsnValue, createdHlc: this.hlc() });
    const file = await this.storage.open(id.fileName(), { create: true });
    try {
      file.truncate(0);
      file.write(header, 0);
    } catch (error) {
      file.close();
      throw error;
    }
    this.nextSeq += 1n;
    this.activeDigest.reset();
    this.digestBehind = false;
    this.activeDigest.update(header);
    const segment: Segment = {
      id,
      baseLsn: this.nextLsnValue,
      lastLsn: this.nextLsnValue - 1,
      sealed: false,
      dataEnd: SEGMENT_HEADER_BYTES,
      offsets: [],
      firstLsns: [],
      file,
    };
    this.segmentsInLog.push(segment);
    return segment;
  }

  /** Resolves once every append issued before the call is committed. */
  async flush(): Promise<void> {
    if (this.pending) this.scheduleCommit(this.pending, true);
    await this.committing;
    this.assertUsable();
  }

  /**
   * Committed batches from the one holding `fromLsn` on, verified as they
   * are read (`verify: false` checks their structure only: for a replay
   * right after `Wal.open`, which has just verified every byte). Throws
   * `Corrupt` when the log has a gap (see the recovery report) where the
   * read must pass.
   */
  async *readBatches(fromLsn = 1, options: WalReadOptions = {}): AsyncGenerator<WalBatch> {
    this.assertUsable();
    if (!Number.isSafeInteger(fromLsn) || fromLsn < 1)
      throw new TidalError('InvalidArgument', `fromLsn must be a positive integer, got ${fromLsn}`);
    let expected = fromLsn;
    for (const segment of [...this.segmentsInLog]) {
      if (segment.lastLsn < expected) continue;
      if (segment.baseLsn > expected) {
        throw new TidalError(
          'Corrupt',
          `shard ${this.shard}: LSNs ${expected}..${segment.baseLsn - 1} are missing from the log (see the recovery report)`,
        );
      }
      let i = upperBound(segment.firstLsns, expected) - 1;
      for (; i < segment.offsets.length; i++) {
        const start = segment.offsets[i]!;
        const end = segment.offsets[i + 1] ?? segment.dataEnd;
        const bytes = new Uint8Array(end - start);
        const file = await this.readHandle(segment);
        file.read(bytes, start);
        const decoded = decodeBatch(this.b3, bytes, 0, { verify: options.verify !== false });
        if (decoded.end !== bytes.length || decoded.header.firstLsn !== segment.firstLsns[i]) {
          throw new TidalError('Corrupt', `${segment.id.fileName()}: batch at offset ${start} changed on storage since it was verified`);
        }
        const lastLsn = decoded.header.firstLsn + decoded.header.eventCount - 1;
        yield {
          segment: segment.id,
          header: decoded.header,
          firstLsn: decoded.header.firstLsn,
          lastLsn,
          bytes,
          payload: bytes.subarray(decoded.payloadStart),
        };
        expected = lastLsn + 1;
      }
    }
  }

  /** Committed events from `fromLsn` on, decoded (options as `readBatches`). */
  async *read(fromLsn = 1, options: WalReadOptions = {}): AsyncGenerator<{ lsn: number; event: Value }> {
    for await (const batch of this.readBatches(fromLsn, options)) {
      const events = decodePayload(batch.payload, batch.header.eventCount);
      for (let i = Math.max(0, fromLsn - batch.firstLsn); i < events.length; i++) {
        yield { lsn: batch.firstLsn + i, event: events[i]! };
      }
    }
  }

  /** The whole bytes of a sealed segment (for shipping it to a replica that must catch up). */
  async readSealedSegment(id: WalSegmentId): Promise<Uint8Array> {
    this.assertUsable();
    const segment = this.segmentsInLog.find((s) => s.id.equals(id));
    if (!segment || !segment.sealed) {
      throw new TidalError('InvalidArgument', `shard ${this.shard} has no sealed segment ${id.fileName()}`);
    }
    const file = await this.readHandle(segment);
    const bytes = new Uint8Array(segment.dataEnd + SEGMENT_FOOTER_BYTES);
    file.read(bytes, 0);
    return bytes;
  }

  private readonly readHandles: Segment[] = [];

  private async readHandle(segment: Segment): Promise<WalFile> {
    if (segment.file) return segment.file;
    const file = await this.storage.open(segment.id.fileName());
    if (segment.file) {
      // Another reader opened it while we waited.
      file.close();
      return segment.file;
    }
    segment.file = file;
    this.readHandles.push(segment);
    while (this.readHandles.length > MAX_OPEN_READ_HANDLES) {
      const evicted = this.readHandles.shift()!;
      evicted.file?.close();
      evicted.file = undefined;
    }
    return file;
  }

  /** Commits what is pending, then closes every handle. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } catch {
      // A failed WAL still closes; the failure was reported to the appends it concerned.
    }
    this.closed = true;
    for (const segment of this.segmentsInLog) {
      if (segment.file && !segment.sealed && !this.failure) segment.file.flush(); // relaxed mode's writes too
      segment.file?.close();
      segment.file = undefined;
    }
  }
}

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
