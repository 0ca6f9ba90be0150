/**
 * Recovery: what opening a shard's log does to the segments it finds
 * (docs/FORMAT.md §6), as three named steps.
 *
 * 1. `setAsideTrailing` (pass 1, from the end, headers only): drops a last
 *    segment that was never started and quarantines trailing files whose
 *    header is unreadable or disagrees with their name, so that "the last
 *    segment" (the only one allowed to be open) is the last one that
 *    belongs to the log. The first segments are opened meanwhile, for pass
 *    2: each open is a round trip to the browser's storage, and under load
 *    those round trips, not hashing, were what an open waited on.
 * 2. `scanInOrder` (pass 2): reads every remaining segment in full and
 *    verifies it (`scanSegment`); cuts a torn tail, quarantines damage,
 *    keeps the open segment's verified prefix, and records LSN gaps.
 *    The newest `MAX_OPEN_READ_HANDLES` + `MAX_DEFERRED_CLOSES` sealed
 *    segments keep their handles, which the WAL's read-handle cache takes
 *    over (it keeps the newest and closes the rest after the open: a close
 *    costs about 1 ms in Chromium); the others are closed once verified.
 *    With `deferBelowSnapshot`, a sealed segment wholly at or below the
 *    newest snapshot's LSN (as its file name says) is not read: its header, its footer and
 *    the next segment's header say where its LSNs are (they must agree),
 *    and it is kept unverified (`Segment.unverified`): the log reader
 *    verifies it in full the first time anything reads it
 *    (docs/FORMAT.md §6). A sealed segment that straddles the snapshot is
 *    read, walked and bound by its footer, but only its batches past the
 *    snapshot have their digests checked (`Segment.uncheckedEnd`: the
 *    reader checks the others as it reads them); so too the open segment,
 *    while its last batch is past the snapshot and nothing in it fails. An
 *    open hashes only what follows the snapshot.
 * 3. `quarantine`: a damaged file is renamed `<name>.quarantined-<n>` and
 *    kept, never silently dropped; the report lists it.
 *
 * The opening ahead and the check that keeps a segment unread are in
 * segment-opening.ts.
 *
 *     const { recovered, report } = await recoverSegments(storage, b3, shard);
 *     const opened = await recoverSegments(storage, b3, shard, { deferBelowSnapshot: true });
 */
import type { Blake3, Blake3Reservation } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES } from './format.js';
import { MAX_DEFERRED_CLOSES, MAX_OPEN_READ_HANDLES } from './read-handles.js';
import { isNewerSegmentHeader, newerFormat, scanSegment, type SegmentScan } from './segment-scan.js';
import type { LsnRange, RecoveredSegments, Segment } from './segment-log.js';
import { WalSegmentId } from './segment-id.js';
import { deferredSegment, SEGMENTS_OPENED_AHEAD, SegmentOpening } from './segment-opening.js';
import { parseSnapshotFileName } from './snapshot-file.js';
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
  /** Sealed segments kept without being read (`deferBelowSnapshot`): verified when first read. */
  readonly deferredSegments: number;
  /** Bytes of torn tail cut off the last segment. */
  readonly bytesCut: number;
  /** Damage found; empty when the log was clean. */
  readonly issues: readonly RecoveryIssue[];
  /** The last LSN in the log (0 when empty). */
  readonly lastLsn: number;
}

type GoodScan = Extract<SegmentScan, { kind: 'good' }>;

/** Options of `recoverSegments`. */
export interface RecoveryOptions {
  /**
   * Sealed segments whose every LSN is at or below the newest snapshot
   * file's (of this shard, by its name; it is not read here) are kept
   * without being read, and verified when first read (see the module
   * comment). Default false: every segment is read and verified.
   */
  readonly deferBelowSnapshot?: boolean;
}

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
  options: RecoveryOptions = {},
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
    return await new Recovery(tracked, b3, shard, options.deferBelowSnapshot === true).run();
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
  private deferredCount = 0;
  private bytesCut = 0;
  private lastLsn = 0;
  /** Highest LSN any damaged data claimed: never handed out again. */
  private highestClaimed = 0;
  /** A segment was quarantined in pass 2: LSNs before the first kept segment may be lost, not compacted. */
  private quarantinedAny = false;

  private readonly storage: WalStorage;
  private readonly b3: Blake3;
  private readonly shard: ShardId;
  private readonly deferBelowSnapshot: boolean;
  /** Sealed segments whose every LSN is below this one are deferred (`deferredSegment`); 0 defers none. */
  private deferBelowLsn = 0;

  constructor(storage: WalStorage, b3: Blake3, shard: ShardId, deferBelowSnapshot: boolean) {
    this.storage = storage;
    this.b3 = b3;
    this.shard = shard;
    this.deferBelowSnapshot = deferBelowSnapshot;
  }

  async run(): Promise<{ recovered: RecoveredSegments; report: RecoveryReport }> {
    const names = await this.storage.list();
    this.taken = new Set(names);
    if (this.deferBelowSnapshot) {
      for (const name of names) {
        const snapshot = parseSnapshotFileName(name);
        if (snapshot?.shard === this.shard) this.deferBelowLsn = Math.max(this.deferBelowLsn, snapshot.lsn + 1);
      }
    }
    const ids = names
      .filter((name) => WalSegmentId.isName(name))
      .map((name) => WalSegmentId.parse(name))
      .filter((id) => id.shard === this.shard)
      .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));

    // The first segments are opened while pass 1 opens the last: every open is a round trip to the
    // browser's storage, and pass 2 starts with the first segment. The last is asked for first: pass 1
    // waits for it before pass 2 can start, and the browser answers about in the order asked.
    const opening = new SegmentOpening(this.storage, ids);
    if (ids.length > 0) opening.start(ids.length - 1);
    for (let i = 0; i < Math.min(SEGMENTS_OPENED_AHEAD, ids.length - 1); i++) opening.start(i);
    let end: number;
    try {
      end = await this.setAsideTrailing(ids, opening);
    } catch (error) {
      // Pass 1 failed with files still being opened: close them once they are (pass 2 closes its own on failure).
      await opening.closeFrom(0);
      throw error;
    }
    await this.scanInOrder(ids.slice(0, end), opening);
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
        deferredSegments: this.deferredCount,
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
   * by the full scan of pass 2.) Returns how many segments, from the first,
   * belong to the log; the handle of the last of them stays in `opening`
   * for pass 2, and the handles of those set aside are closed.
   */
  private async setAsideTrailing(ids: readonly WalSegmentId[], opening: SegmentOpening): Promise<number> {
    let end = ids.length;
    while (end > 0) {
      const id = ids[end - 1]!;
      const name = id.fileName();
      const file = await opening.start(end - 1);
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
      return end;
    }
    return 0;
  }

  /**
   * Pass 2: every segment in full, each read into one reused buffer, in
   * the hasher's own memory where it has room (`SegmentBuffer`), but those
   * deferred (see `deferredSegment`). Segment files are opened ahead
   * of the one being verified, up to `SEGMENTS_OPENED_AHEAD` at a time
   * (`SegmentOpening`): each open is a round trip to the browser's storage
   * that can only complete when this worker is free, so opening just the
   * next one while this one is verified left it waiting between segments.
   * Opened ahead, the opens overlap the hashing; bounded, a log of many
   * segments does not hold a handle for each at once.
   */
  private async scanInOrder(belonging: readonly WalSegmentId[], opening: SegmentOpening): Promise<void> {
    const buffer = new SegmentBuffer(this.b3);
    let scanned = 0;
    try {
      for (const [i, id] of belonging.entries()) {
        for (let ahead = i; ahead < Math.min(i + SEGMENTS_OPENED_AHEAD, belonging.length); ahead++) opening.start(ahead);
        const file = await opening.start(i);
        scanned = i + 1;
        const isLast = i === belonging.length - 1;
        const deferred = isLast ? undefined : await deferredSegment(this.b3, id, file, opening.start(i + 1), this.deferBelowLsn);
        if (deferred) {
          file.close();
          this.deferredCount++;
          await this.continueLsns(deferred);
          continue;
        }
        const bytes = buffer.take(file.size());
        file.read(bytes, 0);
        this.bytesRead += bytes.length;
        // Batches below the snapshot are checked when read (scanSegment checks an open segment whole where its tail is in doubt).
        const scan = scanSegment(this.b3, bytes, id, isLast, { checkFromLsn: this.deferBelowLsn });
        const keepHandle = i >= belonging.length - 1 - MAX_OPEN_READ_HANDLES - MAX_DEFERRED_CLOSES;
        const segment = await this.keep(id, file, bytes, scan, keepHandle);
        if (segment) await this.continueLsns(segment);
      }
    } finally {
      buffer.release();
      // Recovery failed with files opened ahead: close them (the caller closes every handle it knows of, these may come later).
      await opening.closeFrom(scanned);
    }
  }

  /** Acts on one segment's scan: returns the segment as kept, or undefined when nothing of it is. */
  private async keep(
    id: WalSegmentId,
    file: WalFile,
    bytes: Uint8Array,
    scan: SegmentScan,
    keepHandle: boolean,
  ): Promise<Segment | undefined> {
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
    // The newest sealed segments keep their handles for the WAL's read-handle cache: a close costs
    // about 1 ms in Chromium (16 of them were 12% of a 64 MiB open), and these are the likeliest read next;
    // the cache closes those past its bound after the open, not during it.
    if (scan.sealed && !keepHandle) {
      file.close();
      return segmentFrom(id, scan, undefined);
    }
    return segmentFrom(id, scan, file);
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
    this.batches += segment.unverified?.batchCount ?? segment.offsets.length;
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

/**
 * The buffer pass 2 reads each segment into, reused from one to the next: room in the hasher's own
 * memory (`Blake3.reserve`) where it has it, so that the file is read straight into the memory the
 * digests are computed in and no byte is copied again to be hashed; a plain buffer where it has not
 * (hash-wasm's build, a segment larger than its free memory).
 */
class SegmentBuffer {
  private room: Blake3Reservation | undefined;
  private plain = new Uint8Array(0);
  private readonly b3: Blake3;

  constructor(b3: Blake3) {
    this.b3 = b3;
  }

  /** `size` bytes to read a segment into; what an earlier `take` returned is not to be used after. */
  take(size: number): Uint8Array {
    if (this.room && size <= this.room.bytes.length) return this.room.bytes.subarray(0, size);
    if (size > this.plain.length) {
      this.room?.release();
      // Rounded up, so that segments a little larger than the first (up to the size bound) fit too.
      this.room = this.b3.reserve(Math.ceil(size / ROOM_ROUNDING) * ROOM_ROUNDING);
      if (this.room) return this.room.bytes.subarray(0, size);
      this.plain = new Uint8Array(Math.max(size, this.plain.length * 2));
    }
    return this.plain.subarray(0, size);
  }

  release(): void {
    this.room?.release();
    this.room = undefined;
  }
}

/** `SegmentBuffer` reserves room in multiples of this. */
const ROOM_ROUNDING = 64 * 1024;

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
    ...(scan.uncheckedEnd > 0 ? { uncheckedEnd: scan.uncheckedEnd } : {}),
  };
}
