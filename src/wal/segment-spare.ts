/**
 * The next segment's file, opened ahead. Opening a file is two round trips
 * to the browser's storage (the file, then its sync access handle), about
 * as long as several batch writes in OPFS; opened while the open segment
 * still fills, the browser does that work while batches are written, and
 * the segment roll only takes the handle. The file is created empty and
 * nothing is written to it until the segment is started (its header goes
 * in then), so a crash before that leaves an empty trailing file, which
 * recovery removes as a segment whose creation was cut short. It is opened
 * only once the open segment has been flushed (its header is durable):
 * otherwise a crash could leave the open segment empty before the file
 * opened ahead, a gap recovery must quarantine.
 *
 * Each round trip's answer is taken only when this thread turns its event
 * loop, which appends awaited one after another (microtasks) never do: the
 * log yields to it while the file is still opening (`opening`), a few
 * times per segment, so that both answers are in before the roll.
 *
 *     spare.prepare(storage, name);           // once the open segment holds a batch
 *     if (spare.opening) await yieldToEventLoop(); // now and then, while it fills
 *     const file = await spare.take(name);    // at the roll: the handle, or undefined
 *     await spare.drop(storage);              // before the log writes that name otherwise, and at close
 */
import type { WalFile, WalStorage } from './storage.js';

/** At most one file opened ahead, for the segment name it was opened for. */
export class SegmentSpare {
  private pending: { readonly name: string; readonly file: Promise<WalFile | undefined> } | undefined;
  /** The file opened ahead is there (or its opening failed): taking it does not wait. */
  private settled = false;

  /** A file is being opened ahead and has not arrived yet. */
  get opening(): boolean {
    return this.pending !== undefined && !this.settled;
  }

  /** Opens (creating it) the file `name` in the background, unless one is already opened ahead. */
  prepare(storage: WalStorage, name: string): void {
    if (this.pending) return;
    // A failure to open ahead is not the log's: the roll opens the file itself and reports what it finds.
    const file = storage.open(name, { create: true }).then(
      (opened) => opened,
      () => undefined,
    );
    this.settled = false;
    void file.then(() => {
      if (this.pending?.file === file) this.settled = true;
    });
    this.pending = { name, file };
  }

  /** The file opened ahead for `name`, handed over (undefined when there is none or it failed); any other is closed. */
  async take(name: string): Promise<WalFile | undefined> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return undefined;
    const file = await pending.file;
    if (pending.name === name) return file;
    file?.close();
    return undefined;
  }

  /** Closes the file opened ahead, if any, and removes it while nothing was written to it. */
  async drop(storage: WalStorage): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    const file = await pending.file;
    if (!file) return;
    let empty = false;
    try {
      empty = file.size() === 0;
    } catch {
      // The handle was lost: what the file holds is unknown, so it stays (empty and trailing, recovery removes it).
    }
    try {
      file.close();
    } catch {
      // already gone
    }
    if (empty) {
      try {
        await storage.remove(pending.name);
      } catch {
        // Left behind, it is an empty trailing file: recovery removes it.
      }
    }
  }
}
