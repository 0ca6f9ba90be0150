/**
 * Recovery: what opening a shard's log does to the segments it finds
 * (docs/FORMAT.md §6), as three named steps.
 *
 * 1. `setAsideTrailing` (pass 1, from the end, headers only): drops a last
 *    segment that was never started and quarantines trailing files whose
 *    header is unreadable or disagrees with their name, so that "the last
 *    segment" (the only one allowed to be open) is the last one that
 *    belongs to the log.
 * 2. `scanInOrder` (pass 2): reads every remaining segment in full and
 *    verifies it (`scanSegment`); cuts a torn tail, quarantines damage,
 *    keeps the open segment's verified prefix, and records LSN gaps.
 * 3. `quarantine`: a damaged file is renamed `<name>.quarantined-<n>` and
 *    kept, never silently dropped; the report lists it.
 *
 *     const { recovered, report } = await recoverSegments(storage, b3, shard);
 */
import type { Blake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES } from './format.js';
import { isNewerSegmentHeader, newerFormat, scanSegment, type SegmentScan } from './segment-scan.js';
import type { LsnRange, RecoveredSegments, Segment } from './segment-log.js';
import { WalSegmentId } from './segment-id.js';
import type { WalFile, WalStorage } from './storage.js';

/** One thing recovery found wrong and what it did about it. */
export interface RecoveryIssue {
  /** `Corrupt` when bytes failed their digest or did not parse, `HeaderMismatch` when a valid segment belongs elsewhere. */
  readonly code: 'Corrupt' | 'HeaderMismatch';
  /** What was wrong and where, for a person reading logs. */
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
  /** Batches kept in the log, each verified. */
  readonly batches: number;
  /** Events kept in the log (the LSNs it now holds). */
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

type GoodScan = Extract<SegmentScan, { kind: 'good' }>;

/** The name a quarantined copy of `name` is kept under: the first `.quarantined-<n>` not taken. */
export function quarantineName(name: string, taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) {
    const candidate = `${name}.quarantined-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/**
 * Recovers the segments of `shard` on `storage`. If recovery fails, every
 * handle it opened is closed again (OPFS handles are exclusive).
 */
export async function recoverSegments(
  storage: WalStorage,
  b3: Blake3,
  shard: ShardId,
): Promise<{ recovered: RecoveredSegments; report: RecoveryReport }> {
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
    return await new Recovery(tracked, b3, shard).run();
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

class Recovery {
  private readonly issues: RecoveryIssue[] = [];
  private readonly kept: Segment[] = [];
  private readonly gaps: LsnRange[] = [];
  private taken = new Set<string>();
  private batches = 0;
  private events = 0;
  private bytesRead = 0;
  private bytesCut = 0;
  private lastLsn = 0;
  /** Highest LSN any damaged data claimed: never handed out again. */
  private highestClaimed = 0;
  /** A segment was quarantined in pass 2: LSNs before the first kept segment may be lost, not compacted. */
  private quarantinedAny = false;

  private readonly storage: WalStorage;
  private readonly b3: Blake3;
  private readonly shard: ShardId;

  constructor(storage: WalStorage, b3: Blake3, shard: ShardId) {
    this.storage = storage;
    this.b3 = b3;
    this.shard = shard;
  }

  async run(): Promise<{ recovered: RecoveredSegments; report: RecoveryReport }> {
    const names = await this.storage.list();
    this.taken = new Set(names);
    const ids = names
      .filter((name) => WalSegmentId.isName(name))
      .map((name) => WalSegmentId.parse(name))
      .filter((id) => id.shard === this.shard)
      .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));

    const { belonging, lastHandle } = await this.setAsideTrailing(ids);
    await this.scanInOrder(belonging, lastHandle);
    this.reserveClaimedLsns();

    const nextLsn = Math.max(this.lastLsn, this.highestClaimed) + 1;
    const nextSeq = ids.length > 0 ? ids[ids.length - 1]!.seq + 1n : 0n;
    return {
      recovered: { segments: this.kept, gaps: this.gaps, nextLsn, nextSeq },
      report: {
        segments: this.kept.length,
        batches: this.batches,
        events: this.events,
        bytes: this.bytesRead,
        bytesCut: this.bytesCut,
        issues: this.issues,
        lastLsn: nextLsn - 1,
      },
    };
  }

  /** Renames a damaged file out of the log and keeps it; returns its new name. */
  private async quarantine(name: string, file: WalFile): Promise<string> {
    file.close();
    const to = quarantineName(name, this.taken);
    await this.storage.rename(name, to);
    this.taken.add(to);
    return to;
  }

  /**
   * Pass 1, from the end, headers only. (A bad header further back is found
   * by the full scan of pass 2.) Returns the segments that belong to the
   * log and the open handle of the last of them.
   */
  private async setAsideTrailing(ids: readonly WalSegmentId[]): Promise<{ belonging: WalSegmentId[]; lastHandle: WalFile | undefined }> {
    let end = ids.length;
    while (end > 0) {
      const id = ids[end - 1]!;
      const name = id.fileName();
      const file = await this.storage.open(name);
      const size = file.size();
      const head = new Uint8Array(Math.min(size, SEGMENT_HEADER_BYTES));
      file.read(head, 0);
      let problem: { code: 'Corrupt' | 'HeaderMismatch'; message: string } | undefined;
      try {
        const header = decodeSegmentHeader(this.b3, head);
        if (header.shard !== id.shard || header.seq !== id.seq) {
          problem = {
            code: 'HeaderMismatch',
            message: `file name says shard ${id.shard} seq ${id.seq}, header says shard ${header.shard} seq ${header.seq}`,
          };
        }
      } catch (error) {
        if (!isTidalError(error)) throw error;
        if (error.code === 'UnsupportedVersion' && isNewerSegmentHeader(this.b3, head)) throw newerFormat(error); // a newer tidal's: leave it be
        if (end === ids.length && size <= SEGMENT_HEADER_BYTES) {
          // A crash while creating the segment: nothing in it was ever written.
          file.close();
          await this.storage.remove(name);
          this.bytesCut += size;
          end--;
          continue;
        }
        problem = { code: 'Corrupt', message: `segment header: ${error.message}` };
      }
      if (problem) {
        const quarantinedAs = await this.quarantine(name, file);
        this.issues.unshift({ code: problem.code, message: `${name}: ${problem.message}`, segment: name, quarantinedAs });
        end--;
        continue;
      }
      return { belonging: ids.slice(0, end), lastHandle: file };
    }
    return { belonging: [], lastHandle: undefined };
  }

  /**
   * Pass 2: every segment in full, each read into one reused buffer. Every
   * segment's file is opened at once, before the first is read: opening
   * is two round trips to the browser's storage (the file, then its
   * handle), and the second can only start when this worker is free, so
   * opening just the next one while this one is verified left that second
   * round trip waiting between segments. Opened together, they overlap the
   * first wait and the hashing.
   */
  private async scanInOrder(belonging: readonly WalSegmentId[], lastHandle: WalFile | undefined): Promise<void> {
    const opening = belonging.map((id, i) =>
      i === belonging.length - 1 && lastHandle ? Promise.resolve(lastHandle) : this.storage.open(id.fileName()),
    );
    for (const file of opening) file.catch(() => undefined); // awaited in turn; a failure surfaces there
    let buffer = new Uint8Array(0);
    let scanned = 0;
    try {
      for (const [i, id] of belonging.entries()) {
        const file = await opening[i]!;
        scanned = i + 1;
        const size = file.size();
        if (size > buffer.length) buffer = new Uint8Array(Math.max(size, buffer.length * 2));
        const bytes = buffer.subarray(0, size);
        file.read(bytes, 0);
        this.bytesRead += bytes.length;
        const segment = await this.keep(id, file, bytes, scanSegment(this.b3, bytes, id, i === belonging.length - 1));
        if (segment) await this.continueLsns(segment);
      }
    } finally {
      // Recovery failed with files opened ahead: close them (the caller closes every handle it knows of, these may come later).
      for (const file of opening.slice(scanned)) {
        await file.then(
          (opened) => opened.close(),
          () => undefined,
        );
      }
    }
  }

  /** Acts on one segment's scan: returns the segment as kept, or undefined when nothing of it is. */
  private async keep(id: WalSegmentId, file: WalFile, bytes: Uint8Array, scan: SegmentScan): Promise<Segment | undefined> {
    const name = id.fileName();
    if (scan.kind === 'unstarted') throw new TidalError('Corrupt', `${name}: header vanished during recovery`);
    if (scan.kind === 'damaged') {
      this.quarantinedAny = true;
      this.highestClaimed = Math.max(this.highestClaimed, scan.highestLsn);
      const quarantinedAs = await this.quarantine(name, file);
      this.issues.push({ code: scan.code, message: `${name}: ${scan.message}`, segment: name, quarantinedAs });
      if (!scan.keep) return undefined;
      // The open segment: write its verified prefix back under its own name.
      const rewritten = await this.storage.open(name, { create: true });
      rewritten.write(bytes.subarray(0, scan.keep.dataEnd), 0);
      rewritten.flush();
      return segmentFrom(id, scan.keep, rewritten);
    }
    if (scan.tornBytes > 0) {
      file.truncate(scan.dataEnd);
      file.flush();
      this.bytesCut += scan.tornBytes;
    }
    if (scan.sealed) file.close();
    return segmentFrom(id, scan, scan.sealed ? undefined : file);
  }

  /** Adds a kept segment to the log, checking that its LSNs follow on (a gap is reported; an overlap quarantined). */
  private async continueLsns(segment: Segment): Promise<void> {
    const name = segment.id.fileName();
    // A log whose first segments were compacted away (after a snapshot) starts later than LSN 1.
    const compactedStart = this.kept.length === 0 && !this.quarantinedAny && this.lastLsn === 0;
    if (compactedStart) this.lastLsn = segment.baseLsn - 1;
    if (segment.baseLsn !== this.lastLsn + 1) {
      if (segment.baseLsn <= this.lastLsn) {
        // Overlapping LSNs: this segment cannot be part of the log.
        segment.file?.close();
        const quarantinedAs = await this.quarantine(name, await this.storage.open(name));
        this.issues.push({
          code: 'HeaderMismatch',
          message: `${name}: starts at LSN ${segment.baseLsn}, but the log already reached ${this.lastLsn}`,
          segment: name,
          quarantinedAs,
        });
        return;
      }
      const missing = { first: this.lastLsn + 1, last: segment.baseLsn - 1 };
      this.gaps.push(missing);
      this.issues.push({ code: 'Corrupt', message: `LSNs ${missing.first}..${missing.last} are missing from the log`, missing });
    }
    this.kept.push(segment);
    this.batches += segment.offsets.length;
    this.events += segment.lastLsn - segment.baseLsn + 1;
    this.lastLsn = Math.max(this.lastLsn, segment.lastLsn, segment.baseLsn - 1);
  }

  /** Quarantined data may have held LSNs past the last kept one: never hand them out again. */
  private reserveClaimedLsns(): void {
    if (this.highestClaimed <= this.lastLsn) return;
    const missing = { first: this.lastLsn + 1, last: this.highestClaimed };
    this.gaps.push(missing);
    this.issues.push({ code: 'Corrupt', message: `LSNs ${missing.first}..${missing.last} were in quarantined segments`, missing });
  }
}

function segmentFrom(id: WalSegmentId, scan: GoodScan, file: WalFile | undefined): Segment {
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
