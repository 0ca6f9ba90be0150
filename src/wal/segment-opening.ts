/**
 * What recovery (recovery.ts) does with segment files before it reads
 * them: opens them ahead of the one being verified (`SegmentOpening`), and
 * keeps a sealed segment wholly below the newest snapshot without reading
 * it when its header, footer and the next segment's header agree on where
 * its LSNs are (`deferredSegment`; docs/FORMAT.md §6).
 *
 *     const opening = new SegmentOpening(storage, ids);
 *     const file = await opening.start(0);     // opened once, shared by both passes
 *     const kept = await deferredSegment(b3, ids[0], file, opening.start(1), belowLsn);
 */
import type { Blake3 } from '../common/blake3.js';
import { isTidalError } from '../common/errors.js';
import { decodeSegmentFooter, decodeSegmentHeader, isFooterAt, SEGMENT_FOOTER_BYTES, SEGMENT_HEADER_BYTES } from './format.js';
import type { Segment } from './segment-log.js';
import type { WalSegmentId } from './segment-id.js';
import type { WalFile, WalStorage } from './storage.js';

/**
 * Segment files opened ahead of the one being verified, at most (each holds
 * an exclusive OPFS handle): enough that a log of up to 128 MiB (4 MiB
 * segments) has every file asked for while pass 1 waits for the last one's.
 * An open asked for while the worker hashes goes on only when the worker
 * next waits (it takes a few of the browser's answers, each a task on this
 * thread); with 8 ahead, recovery of the bench's 17 segments waited on most
 * of their opens in turn.
 */
export const SEGMENTS_OPENED_AHEAD = 32;

/**
 * The segment files recovery opens, by index in the log's order, each
 * opened once: pass 1 and pass 2 share them, so that the first segments can
 * be opened while pass 1 opens the last, and pass 2 opens ahead of the one
 * it verifies.
 */
export class SegmentOpening {
  private readonly files: (Promise<WalFile> | undefined)[] = [];
  private readonly storage: WalStorage;
  private readonly ids: readonly WalSegmentId[];

  constructor(storage: WalStorage, ids: readonly WalSegmentId[]) {
    this.storage = storage;
    this.ids = ids;
  }

  /** The file of segment `index`, opening it if that has not started. */
  start(index: number): Promise<WalFile> {
    let file = this.files[index];
    if (!file) {
      file = this.storage.open(this.ids[index]!.fileName());
      file.catch(() => undefined); // awaited in turn; a failure surfaces there
      this.files[index] = file;
    }
    return file;
  }

  /** Closes the files of segments from `index` on, once opened (after a failure: those recovery did not take over). */
  async closeFrom(index: number): Promise<void> {
    for (const file of this.files.slice(index)) {
      await file?.then(
        (opened) => opened.close(),
        () => undefined,
      );
    }
  }
}

/**
 * A sealed segment wholly below `belowLsn`, kept unread: its header
 * (which verifies by its own digest) and the next segment's header bound
 * its LSNs, and its footer must say the same. Anything else (no footer,
 * counts that disagree, a header that does not verify) returns undefined,
 * and the segment is read and verified in full, which says what is wrong.
 */
export async function deferredSegment(
  b3: Blake3,
  id: WalSegmentId,
  file: WalFile,
  next: Promise<WalFile>,
  belowLsn: number,
): Promise<Segment | undefined> {
  if (belowLsn <= 1) return undefined; // no LSN is below 1
  const size = file.size();
  const footerAt = size - SEGMENT_FOOTER_BYTES;
  if (footerAt < SEGMENT_HEADER_BYTES) return undefined;
  try {
    const head = new Uint8Array(SEGMENT_HEADER_BYTES);
    file.read(head, 0);
    const header = decodeSegmentHeader(b3, head);
    const tail = new Uint8Array(SEGMENT_FOOTER_BYTES);
    file.read(tail, footerAt);
    if (!isFooterAt(tail, 0)) return undefined;
    const footer = decodeSegmentFooter(tail, 0);
    const nextHead = new Uint8Array(SEGMENT_HEADER_BYTES);
    const nextFile = await next;
    if (nextFile.size() < SEGMENT_HEADER_BYTES) return undefined;
    nextFile.read(nextHead, 0);
    const following = decodeSegmentHeader(b3, nextHead);
    const agrees =
      header.shard === id.shard &&
      header.seq === id.seq &&
      footer.batchCount > 0 &&
      footer.lastLsn >= header.baseLsn &&
      footer.eventCount === footer.lastLsn - header.baseLsn + 1 &&
      following.shard === id.shard &&
      following.baseLsn === footer.lastLsn + 1;
    if (!agrees || footer.lastLsn >= belowLsn) return undefined;
    return {
      id,
      baseLsn: header.baseLsn,
      lastLsn: footer.lastLsn,
      sealed: true,
      dataEnd: footerAt,
      offsets: [],
      firstLsns: [],
      file: undefined,
      unverified: { batchCount: footer.batchCount },
    };
  } catch (error) {
    if (!isTidalError(error)) throw error;
    return undefined;
  }
}
