/**
 * The next segment's file, opened ahead. Opening a file is two round trips
 * to the browser's storage (the file, then its sync access handle), about
 * as long as several batch writes in OPFS; opened while the open segment
 * still fills, the browser does that work while batches are written, and
 * the segment roll only takes the handle. The file is created empty and,
 * once it is there, grown to the segment bound (`truncate`: zeros, no byte
 * written; docs/FORMAT.md §2): in Chromium every write that takes a file
 * past the room it was given asks the browser for more, a synchronous
 * round trip, about three times per 4 MiB segment grown write by write;
 * grown once, the batches are written into room it already has. Nothing is
 * written to it until the segment is started (its header goes in then), so
 * a crash before that leaves a trailing file of zeros (or an empty one),
 * which recovery removes as a segment whose creation was cut short. It is opened
 * only once the open segment has been flushed (its header is durable):
 * otherwise a crash could leave the open segment empty before the file
 * opened ahead, a gap recovery must quarantine.
 *
 * Each round trip's answer is taken only when this thread turns its event
 * loop, which appends awaited one after another (microtasks) never do: the
 * log yields to it while the file is still opening (`opening`), a few
 * times per segment, so that both answers are in before the roll.
 *
 *     spare.prepare(storage, name, bound);    // once the open segment holds a batch
 *     if (spare.opening) await yieldToEventLoop(); // now and then, while it fills
 *     const taken = await spare.take(name);   // at the roll: { file, fresh }, or undefined
 *     await spare.drop(storage);              // before the log writes that name otherwise, and at close
 */
import type { WalFile, WalStorage } from './storage.js';

/** A file opened ahead, as the roll takes it. */
export interface SpareFile {
  readonly file: WalFile;
  /** The file was empty when opened ahead (this log created it): whatever it holds now is zeros it was grown by. */
  readonly fresh: boolean;
}

/** A segment file is grown to its bound, but never past this (a larger bound's file grows past it write by write). */
export const PREGROW_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Grows `file` to `size` bytes of zeros (at most `PREGROW_MAX_BYTES`), or leaves it as it was when storage
 * refuses (full): growing is only to save round trips, and the writes
 * themselves say whether there is room.
 */
export function pregrow(file: WalFile, bytes: number): void {
  const size = Math.min(bytes, PREGROW_MAX_BYTES);
  const before = file.size();
  if (before >= size) return;
  try {
    file.truncate(size);
  } catch {
    try {
      file.truncate(before);
    } catch {
      // The handle is lost: the next write through it fails and says so.
    }
  }
}

/** At most one file opened ahead, for the segment name it was opened for. */
export class SegmentSpare {
  private pending: { readonly name: string; readonly file: Promise<SpareFile | undefined> } | undefined;
  /** The file opened ahead is there (or its opening failed): taking it does not wait. */
  private settled = false;

  /** A file is being opened ahead and has not arrived yet. */
  get opening(): boolean {
    return this.pending !== undefined && !this.settled;
  }

  /** Opens (creating it) the file `name` in the background, and grows it to `bytes` if it is empty, unless one is already opened ahead. */
  prepare(storage: WalStorage, name: string, bytes: number): void {
    if (this.pending) return;
    // A failure to open ahead is not the log's: the roll opens the file itself and reports what it finds.
    const file = storage.open(name, { create: true }).then(
      (opened): SpareFile | undefined => {
        let fresh = false;
        try {
          fresh = opened.size() === 0;
          if (fresh) pregrow(opened, bytes);
        } catch {
          // The handle was lost at once: the roll's first write through it says so.
        }
        return { file: opened, fresh };
      },
      () => undefined,
    );
    this.settled = false;
    void file.then(() => {
      if (this.pending?.file === file) this.settled = true;
    });
    this.pending = { name, file };
  }

  /** The file opened ahead for `name`, handed over (undefined when there is none or it failed); any other is closed. */
  async take(name: string): Promise<SpareFile | undefined> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return undefined;
    const spare = await pending.file;
    if (pending.name === name) return spare;
    spare?.file.close();
    return undefined;
  }

  /** Closes the file opened ahead, if any, and removes it when this log created it (nothing was written to it since). */
  async drop(storage: WalStorage): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    const spare = await pending.file;
    if (!spare) return;
    // A file that was not empty when opened ahead is not this log's to remove (recovery judges it).
    const empty = spare.fresh;
    try {
      spare.file.close();
    } catch {
      // already gone
    }
    if (empty) {
      try {
        await storage.remove(pending.name);
      } catch {
        // Left behind, it is a trailing file of zeros: recovery removes it.
      }
    }
  }
}
