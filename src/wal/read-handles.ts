/**
 * The read-handle cache: sealed segments opened for reading stay open, up
 * to a bound, so that a follower catching up or a replay reading batch
 * after batch does not reopen the file for each one. OPFS sync access
 * handles are exclusive and a limited resource, so the oldest is closed
 * when the bound is passed.
 *
 *     const file = await handles.open(segment); // reuses segment.file when it has one
 */
import type { WalFile, WalStorage } from './storage.js';
import type { WalSegmentId } from './segment-id.js';

/** What the cache needs of a segment: its name, and a slot for its open handle. */
export interface HandleSlot {
  readonly id: WalSegmentId;
  /** Only sealed segments are cached: the open one owns its handle (the log reopens it if it was lost). */
  readonly sealed: boolean;
  /** The segment's open handle, if any (the open segment always has one). */
  file: WalFile | undefined;
}

/** Sealed segments kept open for reading at once, by default. */
export const MAX_OPEN_READ_HANDLES = 8;

/** Open handles of sealed segments, oldest first, closed past `limit`. */
export class ReadHandleCache {
  private readonly opened: HandleSlot[] = [];

  private readonly storage: WalStorage;
  private readonly limit: number;

  constructor(storage: WalStorage, limit = MAX_OPEN_READ_HANDLES) {
    this.storage = storage;
    this.limit = limit;
  }

  /**
   * Takes the handles recovery left open on sealed segments into the cache,
   * oldest first (recovery keeps at most `MAX_OPEN_READ_HANDLES`, its
   * newest: closing a handle costs about 1 ms in Chromium, and those are
   * the likeliest to be read next). Past the bound, the oldest are closed.
   */
  adopt(segments: readonly HandleSlot[]): void {
    for (const segment of segments) {
      if (segment.sealed && segment.file && !this.opened.includes(segment)) this.opened.push(segment);
    }
    this.trim();
  }

  private trim(): void {
    while (this.opened.length > this.limit) {
      const evicted = this.opened.shift()!;
      evicted.file?.close();
      evicted.file = undefined;
    }
  }

  /** The segment's handle, opening (and caching) one when it has none. */
  async open(segment: HandleSlot): Promise<WalFile> {
    if (segment.file) return segment.file;
    const file = await this.storage.open(segment.id.fileName());
    if (segment.file) {
      // Another reader opened it while we waited.
      file.close();
      return segment.file;
    }
    segment.file = file;
    if (!segment.sealed) return file;
    this.opened.push(segment);
    this.trim();
    return file;
  }

  /** Closes the segment's cached handle, if the cache opened it (before the file is removed). */
  release(segment: HandleSlot): void {
    const at = this.opened.indexOf(segment);
    if (at < 0) return;
    this.opened.splice(at, 1);
    segment.file?.close();
    segment.file = undefined;
  }
}
