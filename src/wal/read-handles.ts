/**
 * The read-handle cache: sealed segments opened for reading stay open, up
 * to a bound, so that a follower catching up or a replay reading batch
 * after batch does not reopen the file for each one. OPFS sync access
 * handles are exclusive and a limited resource, so the oldest is closed
 * when the bound is passed.
 *
 *     const file = await handles.open(segment); // reuses segment.file when it has one
 */
import { TidalError } from '../common/errors.js';
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

/**
 * Handles past the bound that `adopt` may leave to close after the
 * current task, at most: recovery keeps this many more than the bound
 * open, so that an open does not wait for their closes.
 */
export const MAX_DEFERRED_CLOSES = 16;

/** Open handles of sealed segments, oldest first, closed past `limit`. */
export class ReadHandleCache {
  private readonly opened: HandleSlot[] = [];
  /** Handles `adopt` evicted, closed after the task that adopted them (`closeDeferred`). */
  private readonly deferred: WalFile[] = [];
  /** Segments released (their files removed or about to be): an open that was under way for one closes what it got. */
  private readonly released = new WeakSet<HandleSlot>();
  /** Opens under way, by segment. */
  private readonly opening = new Map<HandleSlot, Promise<WalFile>>();
  /** Set by `stop`: the log is closing, and what an open under way gets is closed at once. */
  private stopped = false;

  private readonly storage: WalStorage;
  private readonly limit: number;

  constructor(storage: WalStorage, limit = MAX_OPEN_READ_HANDLES) {
    this.storage = storage;
    this.limit = limit;
  }

  /**
   * Takes the handles recovery left open on sealed segments into the cache,
   * oldest first (recovery keeps at most `MAX_OPEN_READ_HANDLES` +
   * `MAX_DEFERRED_CLOSES`, its newest: those are the likeliest to be read
   * next). Past the bound, the oldest are closed after the current task,
   * not in it: adopting ends an open, and a close costs about 1 ms in
   * Chromium (8 of them were 6-8% of a 64 MiB open), which the open need
   * not wait for. Until then their files are not opened again: the cache
   * closes what is left first (`closeDeferred`).
   */
  adopt(segments: readonly HandleSlot[]): void {
    for (const segment of segments) {
      if (segment.sealed && segment.file && !this.opened.includes(segment)) this.opened.push(segment);
    }
    while (this.opened.length > this.limit) {
      const evicted = this.opened.shift()!;
      if (evicted.file) this.deferred.push(evicted.file);
      evicted.file = undefined;
    }
    if (this.deferred.length > 0) setTimeout(() => this.closeDeferred(), 0);
  }

  /** As the log closes: waits for the opens under way (a read ahead), closing what they open, so that no handle outlives the log. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.opening.values()].map((opening) => opening.catch(() => undefined)));
  }

  /** Closes the handles `adopt` left to close later (at once: before the cache opens or releases a file, and when the log closes). */
  closeDeferred(): void {
    for (const file of this.deferred.splice(0)) {
      try {
        file.close();
      } catch {
        // already gone
      }
    }
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
    // A file has one sync access handle at a time: readers that ask while it opens share that open.
    let opening = this.opening.get(segment);
    if (!opening) {
      opening = this.openNew(segment).finally(() => this.opening.delete(segment));
      this.opening.set(segment, opening);
    }
    return opening;
  }

  private async openNew(segment: HandleSlot): Promise<WalFile> {
    this.closeDeferred();
    const file = await this.storage.open(segment.id.fileName());
    if (this.stopped || this.released.has(segment)) {
      // The log closed, or the segment left it (compacted, or cut by a restart), while it opened.
      file.close();
      throw new TidalError(
        'Closed',
        `${segment.id.fileName()} ${this.stopped ? 'was opened as its log closed' : 'left the log while it was being opened'}`,
      );
    }
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

  /**
   * Closes the segment's cached handle, if the cache opened it, before its
   * file is removed: an open under way for it (a read, or one ahead) is
   * waited for, and what it opens is closed at once.
   */
  async release(segment: HandleSlot): Promise<void> {
    this.released.add(segment);
    await this.opening.get(segment)?.catch(() => undefined);
    this.closeDeferred();
    const at = this.opened.indexOf(segment);
    if (at < 0) return;
    this.opened.splice(at, 1);
    segment.file?.close();
    segment.file = undefined;
  }
}
