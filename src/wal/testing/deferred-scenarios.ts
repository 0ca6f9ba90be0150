/**
 * Scenarios of deferred verification (`WalOptions.verifyAtOpen:
 * 'after-snapshot'`, docs/FORMAT.md §6) and of recovery's bounded opening
 * of segment files, written once and run on every storage backend like
 * `wal-scenarios.ts` (memory in `wal.test.ts`, OPFS in a dedicated worker in
 * `wal.browser.test.ts`).
 */
import { loadBlake3 } from '../../common/blake3.js';
import { BATCH_HEADER_V2_BYTES, SEGMENT_FOOTER_BYTES, SEGMENT_HEADER_BYTES } from '../format.js';
import { MAX_DEFERRED_CLOSES, MAX_OPEN_READ_HANDLES } from '../read-handles.js';
import { SEGMENTS_OPENED_AHEAD } from '../segment-opening.js';
import { databaseIdOf, SnapshotStore } from '../snapshot-store.js';
import type { WalStorage } from '../storage.js';
import { Wal } from '../wal.js';
import {
  event,
  expect,
  expectEqual,
  expectTidalError,
  fileBytes,
  readAll,
  segmentNames,
  SMALL,
  writeFile,
  type FreshStorage,
} from './wal-scenarios.js';
import { WatchedStorage } from './watched-storage.js';

/** Segments of 1 KiB: a log of 1,200 one-event batches in more than 3 x SEGMENTS_OPENED_AHEAD of them. */
const TINY = { segmentBytes: 1024 };

/** A log of `events` events in 4 KiB segments, and a snapshot file (its body is not what is checked here) at `snapshotLsn`. */
async function logWithSnapshot(storage: WalStorage, events: number, snapshotLsn: number): Promise<void> {
  const { wal } = await Wal.open(storage, { shard: 0, ...SMALL });
  for (let i = 1; i <= events; i++) await wal.append([event(i)]);
  await wal.close();
  const b3 = await loadBlake3();
  await new SnapshotStore(storage, b3, { shard: 0, databaseId: databaseIdOf(b3, 'scenario') }).write({
    lsn: snapshotLsn,
    hlcHigh: 1n,
    body: new Uint8Array([1, 2, 3]),
  });
}

/** Flips the last payload byte of a segment's first batch. */
function flipFirstPayload(segment: Uint8Array): void {
  const payloadLength = new DataView(segment.buffer, segment.byteOffset).getUint32(SEGMENT_HEADER_BYTES + 32, true);
  const lastPayloadByte = SEGMENT_HEADER_BYTES + BATCH_HEADER_V2_BYTES + payloadLength - 1;
  segment[lastPayloadByte] = segment[lastPayloadByte]! ^ 0x01;
}

/** The LSN ranges of the log's segments, as a log opened with every byte verified sees them. */
async function segmentRanges(storage: WalStorage): Promise<{ name: string; baseLsn: number; lastLsn: number }[]> {
  const { wal } = await Wal.open(storage, { shard: 0, ...SMALL });
  const ranges = wal.segments().map((s) => ({ name: s.id.fileName(), baseLsn: s.baseLsn, lastLsn: s.lastLsn }));
  await wal.close();
  return ranges;
}

export const deferredScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async 'an open after a snapshot reads no sealed segment below it; reading one verifies it first'(fresh) {
    const storage = await fresh();
    await logWithSnapshot(storage, 300, 200);
    const ranges = await segmentRanges(storage);
    const below = ranges.filter((r, i) => i < ranges.length - 1 && r.lastLsn <= 200);
    expect(below.length >= 2, `the log has sealed segments below the snapshot (${ranges.length} segments)`);
    // A flipped payload byte in the first segment: a full open finds it, a deferred one does not read it.
    const first = await fileBytes(storage, below[0]!.name);
    first[200] = first[200]! ^ 0x01;
    await writeFile(storage, below[0]!.name, first);
    const { wal, report } = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    expectEqual([report.issues.length, report.deferredSegments, report.lastLsn], [0, below.length, 300], 'deferred, unread, nothing found');
    expectEqual(
      wal.segments().map((s) => [s.baseLsn, s.lastLsn]),
      ranges.map((r) => [r.baseLsn, r.lastLsn]),
      'the deferred segments hold the LSNs their footers say',
    );
    const tail = await readAll(wal, 201);
    expectEqual(
      tail.map((e) => e.event),
      Array.from({ length: 100 }, (_, i) => event(201 + i)),
      'the log after the snapshot reads',
    );
    // Reading the damaged segment verifies it first, even with verify: false: Corrupt, nothing yielded.
    const yielded: number[] = [];
    await expectTidalError(
      (async () => {
        for await (const { lsn } of wal.read(1, { verify: false })) yielded.push(lsn);
      })(),
      'Corrupt',
      'a replay from LSN 1',
    );
    expectEqual(yielded, [], 'nothing of the damaged segment read');
    await expectTidalError(wal.readSealedSegment(wal.segments()[0]!.id), 'Corrupt', 'shipping it');
    // The second deferred segment is good: verified on first read, then read.
    const second = await readAll(wal, below[1]!.baseLsn);
    expectEqual(second.length, 300 - below[1]!.baseLsn + 1, 'a good deferred segment reads once verified');
    await wal.close();
    const { wal: verifiedAll, report: full } = await Wal.open(storage, { shard: 0, ...SMALL });
    await verifiedAll.close();
    expectEqual(
      full.issues.map((i) => [i.code, i.segment]),
      [
        ['Corrupt', below[0]!.name],
        ['Corrupt', undefined],
      ],
      'an open that verifies all quarantines it (and reports the LSNs it held as missing)',
    );
  },

  async 'a sealed segment that straddles the snapshot has only its batches past it checked at open'(fresh) {
    const storage = await fresh();
    await logWithSnapshot(storage, 300, 200);
    const ranges = await segmentRanges(storage);
    const straddling = ranges.find((r, i) => i < ranges.length - 1 && r.baseLsn < 200 && r.lastLsn > 200);
    expect(straddling !== undefined, `a sealed segment holds LSNs on both sides of 200 (${JSON.stringify(ranges)})`);
    const { baseLsn, name } = straddling!;
    // Each append is one batch of one event: flip the last payload byte of the segment's first batch (LSN baseLsn, below the snapshot).
    const bytes = await fileBytes(storage, name);
    flipFirstPayload(bytes);
    await writeFile(storage, name, bytes);
    const { wal, report } = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    expectEqual(report.issues.length, 0, 'the damaged batch below the snapshot is not checked at open');
    expectEqual((await readAll(wal, 201)).length, 100, 'the log after the snapshot reads');
    await expectTidalError(readAll(wal, baseLsn), 'Corrupt', 'reading the unchecked batch checks it');
    await wal.close();
  },

  async 'in the open segment, batches below the snapshot are checked when read; a torn tail is still cut'(fresh) {
    const storage = await fresh();
    await logWithSnapshot(storage, 110, 103);
    const ranges = await segmentRanges(storage);
    const open = ranges[ranges.length - 1]!;
    expect(open.baseLsn < 103 && open.lastLsn === 110, `the snapshot is in the open segment (${JSON.stringify(ranges)})`);
    const bytes = await fileBytes(storage, open.name);
    await writeFile(storage, open.name, bytes.subarray(0, bytes.length - 3)); // a torn tail
    const torn = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    expectEqual([torn.report.issues.length, torn.report.bytesCut > 0, torn.wal.lastLsn], [0, true, 109], 'the torn last batch is cut');
    await torn.wal.close();
    const cut = await fileBytes(storage, open.name);
    flipFirstPayload(cut); // the open segment's first batch, below the snapshot
    await writeFile(storage, open.name, cut);
    const { wal, report } = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    try {
      expectEqual(report.issues.length, 0, 'the damaged batch below the snapshot is not checked at open');
      expectEqual((await readAll(wal, 104)).length, 6, 'the log after the snapshot reads');
      await expectTidalError(readAll(wal, open.baseLsn), 'Corrupt', 'reading the unchecked batch checks it');
    } finally {
      await wal.close();
    }
  },

  async 'a snapshot named past the end of the log has the open segment checked whole'(fresh) {
    const storage = await fresh();
    await logWithSnapshot(storage, 110, 500);
    const ranges = await segmentRanges(storage);
    const open = ranges[ranges.length - 1]!;
    expect(open.lastLsn - open.baseLsn >= 2, `the open segment holds batches after its first (${JSON.stringify(ranges)})`);
    const bytes = await fileBytes(storage, open.name);
    flipFirstPayload(bytes);
    await writeFile(storage, open.name, bytes);
    const { wal, report } = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    await wal.close();
    expectEqual(report.issues[0]?.segment, open.name, 'the damage in the open segment is found and quarantined at open');
  },

  async 'a deferred segment whose footer disagrees with the next header is verified at open'(fresh) {
    const storage = await fresh();
    await logWithSnapshot(storage, 300, 200);
    const ranges = await segmentRanges(storage);
    const bytes = await fileBytes(storage, ranges[0]!.name);
    const footer = new DataView(bytes.buffer, bytes.length - SEGMENT_FOOTER_BYTES, SEGMENT_FOOTER_BYTES);
    footer.setBigUint64(24, footer.getBigUint64(24, true) - 1n, true); // last LSN one short
    footer.setBigUint64(16, footer.getBigUint64(16, true) - 1n, true); // and its event count with it
    await writeFile(storage, ranges[0]!.name, bytes);
    const { wal, report } = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    expectEqual(report.issues[0]?.segment, ranges[0]!.name, 'read in full and quarantined at open');
    expectEqual(report.issues[0]?.code, 'HeaderMismatch', 'its footer counts disagree with its batches');
    expect(report.deferredSegments >= 1, 'the good segments below the snapshot are still deferred');
    await wal.close();
  },

  async 'without a snapshot, or with verifyAtOpen all, every segment is read at open'(fresh) {
    const storage = await fresh();
    const { wal } = await Wal.open(storage, { shard: 0, ...SMALL });
    for (let i = 1; i <= 200; i++) await wal.append([event(i)]);
    await wal.close();
    const noSnapshot = await Wal.open(storage, { shard: 0, ...SMALL, verifyAtOpen: 'after-snapshot' });
    expectEqual(noSnapshot.report.deferredSegments, 0, 'no snapshot: nothing deferred');
    await noSnapshot.wal.close();
    const b3 = await loadBlake3();
    await new SnapshotStore(storage, b3, { shard: 0, databaseId: databaseIdOf(b3, 'scenario') }).write({
      lsn: 150,
      hlcHigh: 1n,
      body: new Uint8Array([1]),
    });
    const all = await Wal.open(storage, { shard: 0, ...SMALL });
    expectEqual(all.report.deferredSegments, 0, "verifyAtOpen 'all' (the default): nothing deferred");
    await all.wal.close();
    await expectTidalError(Wal.open(storage, { shard: 0, verifyAtOpen: 'lazy' as 'all' }), 'InvalidArgument', 'an unknown verifyAtOpen');
  },

  async 'recovery holds at most SEGMENTS_OPENED_AHEAD + MAX_OPEN_READ_HANDLES + MAX_DEFERRED_CLOSES segment files open at once, and MAX_OPEN_READ_HANDLES soon after'(
    fresh,
  ) {
    const storage = await fresh();
    const { wal } = await Wal.open(storage, { shard: 0, ...TINY });
    for (let i = 1; i <= 1200; i++) await wal.append([event(i)]);
    await wal.close();
    const segments = (await segmentNames(storage)).length;
    expect(segments > 3 * SEGMENTS_OPENED_AHEAD, `enough segments to tell (${segments})`);
    const counting = new WatchedStorage(storage);
    const { wal: reopened, report } = await Wal.open(counting, { shard: 0, ...TINY });
    expectEqual([report.segments, report.issues.length, reopened.lastLsn], [segments, 0, 1200], 'every segment recovered');
    // The window, the last segment's handle (pass 1 keeps it open for pass 2), and the newest sealed
    // segments' handles, kept for the read-handle cache (which closes those past its bound after the open).
    const bound = SEGMENTS_OPENED_AHEAD + MAX_OPEN_READ_HANDLES + MAX_DEFERRED_CLOSES + 1;
    expect(counting.mostOpen <= bound, `at most ${bound} open at once, saw ${counting.mostOpen}`);
    expect(segments > MAX_OPEN_READ_HANDLES + MAX_DEFERRED_CLOSES + 1, `enough segments to leave closes for later (${segments})`);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expectEqual(counting.openNow.size, MAX_OPEN_READ_HANDLES + 1, 'after the open: the cached sealed segments and the open one');
    expectEqual((await readAll(reopened)).length, 1200, 'the log reads');
    await reopened.close();
  },

  async "recovery opens the first segments while it reads the last one's header (pass 1), not after"(fresh) {
    const storage = await fresh();
    const { wal } = await Wal.open(storage, { shard: 0, ...SMALL });
    for (let i = 1; i <= 200; i++) await wal.append([event(i)]);
    await wal.close();
    const names = (await segmentNames(storage)).sort();
    expect(names.length > 2, `a log of several segments (${names.length})`);
    const counting = new WatchedStorage(storage);
    const { wal: reopened, report } = await Wal.open(counting, { shard: 0, ...SMALL });
    expectEqual([report.segments, report.issues.length], [names.length, 0], 'every segment recovered');
    const firstOpen = counting.calls.indexOf(`open ${names[0]!}`);
    const lastRead = counting.calls.indexOf(`read ${names[names.length - 1]!}`);
    expect(firstOpen >= 0 && lastRead >= 0, `both happened: ${counting.calls.slice(0, 6).join(', ')}`);
    expect(
      firstOpen < lastRead,
      `the first segment's open was asked before pass 1 read the last: ${counting.calls.slice(0, 6).join(', ')}`,
    );
    expectEqual((await readAll(reopened)).length, 200, 'the log reads');
    await reopened.close();
  },
};
