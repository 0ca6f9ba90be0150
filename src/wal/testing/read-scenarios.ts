/**
 * Scenarios of reading sealed segments whole (what a shipper sends a
 * follower that catches up): opens of one file shared by its readers, the
 * next segment opened ahead, and compaction meeting an open under way.
 * Written once and run on every storage backend like `wal-scenarios.ts`
 * (memory in `wal.test.ts`, OPFS in a dedicated worker in
 * `wal.browser.test.ts`).
 */
import type { WalStorage } from '../storage.js';
import { Wal } from '../wal.js';
import { event, expect, expectEqual, fileBytes, readAll, segmentNames, SMALL, type FreshStorage } from './wal-scenarios.js';
import { WatchedStorage } from './watched-storage.js';

/** A closed log of `events` one-event batches in 4 KiB segments. */
async function writeLog(storage: WalStorage, events: number): Promise<void> {
  const { wal } = await Wal.open(storage, { shard: 0, ...SMALL });
  for (let i = 1; i <= events; i++) await wal.append([event(i)]);
  await wal.close();
}

export const readScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async 'two reads of one sealed segment at once share one open of its file, and both get its bytes'(fresh) {
    const storage = await fresh();
    await writeLog(storage, 1200);
    const first = (await segmentNames(storage)).sort()[0]!;
    const stored = await fileBytes(storage, first);
    const watched = new WatchedStorage(storage);
    const { wal } = await Wal.open(watched, { shard: 0, ...SMALL });
    const id = wal.segments()[0]!.id;
    expect(id.fileName() === first && !watched.openNow.has(first), 'the first segment is not held open after the open');
    const opensBefore = watched.calls.filter((c) => c === `open ${first}`).length;
    const [a, b] = await Promise.all([wal.readSealedSegment(id), wal.readSealedSegment(id)]);
    expectEqual([a, b], [stored, stored], 'both reads hold the file as stored');
    expectEqual(watched.calls.filter((c) => c === `open ${first}`).length - opensBefore, 1, 'one open of the file for both');
    await wal.close();
  },

  async 'reading a sealed segment whole opens the next one ahead, before the read'(fresh) {
    const storage = await fresh();
    await writeLog(storage, 1200);
    const stored = await fileBytes(storage, (await segmentNames(storage)).sort()[1]!);
    const watched = new WatchedStorage(storage);
    const { wal } = await Wal.open(watched, { shard: 0, ...SMALL });
    const [first, second] = wal.segments();
    expect(
      !watched.openNow.has(first!.id.fileName()) && !watched.openNow.has(second!.id.fileName()),
      'neither is held open after the open',
    );
    watched.calls.length = 0;
    await wal.readSealedSegment(first!.id);
    expectEqual(
      watched.calls.slice(0, 3),
      [`open ${first!.id.fileName()}`, `open ${second!.id.fileName()}`, `read ${first!.id.fileName()}`],
      "the next segment's open is asked before the first is read",
    );
    const opens = watched.calls.length;
    const third = watched.hold(wal.segments()[2]!.id.fileName());
    const bytes = await wal.readSealedSegment(second!.id);
    expect(
      !watched.calls.slice(opens).includes(`open ${second!.id.fileName()}`),
      'the second segment is read with the handle opened ahead',
    );
    expectEqual(bytes, stored, 'the second segment reads as stored');
    // The log closes while the third segment's open (ahead of a read that will not come) is under way.
    await third.reached;
    const closing = wal.close();
    setTimeout(third.letGo, 0);
    await closing;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expectEqual([...watched.openNow], [], 'no file is left open once the log closed, not even one opened ahead as it closed');
  },

  async 'a segment compacted while its file is being opened ahead is removed, and nothing is left open'(fresh) {
    const storage = await fresh();
    await writeLog(storage, 1200);
    const [firstName, secondName] = (await segmentNames(storage)).sort();
    const watched = new WatchedStorage(storage, {
      // Lets the open below answer only once compaction went on to the second segment (a task after the first's removal).
      afterRemove: (name) => void (name === firstName && setTimeout(held.letGo, 0)),
    });
    const { wal } = await Wal.open(watched, { shard: 0, ...SMALL });
    const [first, second, third] = wal.segments();
    const held = watched.hold(secondName!);
    expectEqual([first!.id.fileName(), second!.id.fileName()], [firstName, secondName], 'the first two segments');
    await wal.readSealedSegment(first!.id);
    expect(watched.calls.includes(`open ${secondName!}`), 'the second segment is being opened ahead');
    await held.reached; // the file is open underneath; the WAL does not know it yet
    const compacted = await wal.compact(third!.baseLsn);
    expectEqual(
      compacted.map((s) => s.id.fileName()),
      [first!.id.fileName(), second!.id.fileName()],
      'both segments below the third are removed',
    );
    expect(!watched.openNow.has(second!.id.fileName()), 'the handle opened ahead is closed');
    const names = await segmentNames(storage);
    expect(!names.includes(first!.id.fileName()) && !names.includes(second!.id.fileName()), 'their files are gone');
    expectEqual((await readAll(wal, third!.baseLsn)).length, 1200 - third!.baseLsn + 1, 'the rest of the log reads');
    await wal.close();
    const reopened = await Wal.open(storage, { shard: 0, ...SMALL });
    expectEqual([reopened.report.issues.length, reopened.wal.firstLsn], [0, third!.baseLsn], 'the log reopens from the third segment');
    await reopened.wal.close();
  },
};
