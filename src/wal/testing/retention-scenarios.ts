/**
 * The WAL's copies, storage faults, compaction and snapshots, written once
 * and run on every storage backend like the rest of `wal-scenarios.ts`
 * (memory in `wal.test.ts`, OPFS in a dedicated worker in
 * `wal.browser.test.ts`).
 */
import { loadBlake3 } from '../../common/blake3.js';
import { databaseIdOf, SnapshotStore } from '../snapshot-store.js';
import { FaultyStorage } from './faulty-storage.js';
import {
  event,
  expect,
  expectEqual,
  expectTidalError,
  fileBytes,
  openWal,
  readAll,
  segmentNames,
  SMALL,
  writeFile,
  type FreshStorage,
} from './wal-scenarios.js';

export const retentionScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async 'a copy made by importing the batches of another log holds the same batches, byte for byte'(fresh) {
    const leaderStorage = await fresh();
    const copyStorage = await fresh();
    const leader = (await openWal(leaderStorage, SMALL)).wal;
    const copy = (await openWal(copyStorage, SMALL)).wal;
    const seen: number[] = [];
    copy.onCommit((batch) => seen.push(batch.firstLsn));
    for (let i = 1; i <= 50; i += 2) await leader.append([event(i), event(i + 1)]);
    const batches: Uint8Array[] = [];
    for await (const batch of leader.readBatches(1)) batches.push(batch.bytes);
    expectEqual(await copy.importBatches(batches.slice(0, 10)), { first: 1, last: 20 }, 'first import');
    await expectTidalError(copy.importBatches([batches[11]!]), 'HeaderMismatch', 'a batch that skips LSNs');
    await expectTidalError(copy.importBatches([batches[9]!]), 'HeaderMismatch', 'a batch already held');
    expectEqual(await copy.importBatches(batches.slice(10)), { first: 21, last: 50 }, 'rest');
    expectEqual(
      seen,
      batches.map((_, i) => 2 * i + 1),
      'commit listener saw every imported batch',
    );
    const copied: Uint8Array[] = [];
    for await (const batch of copy.readBatches(1)) copied.push(batch.bytes);
    expectEqual(copied, batches, 'same batch bytes');
    expectEqual(
      copy.segments().map((s) => [s.baseLsn, s.lastLsn, s.sealed]),
      leader.segments().map((s) => [s.baseLsn, s.lastLsn, s.sealed]),
      'same segmentation',
    );
    await leader.close();
    await copy.close();
    const reopened = await openWal(copyStorage, SMALL);
    expectEqual(reopened.report.lastLsn, 50, 'the copy recovers');
    await reopened.wal.close();
  },

  async 'a segment reopened half-full is later sealed with a footer that verifies'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 5; i++) await wal.append([event(i)]);
    await wal.close();
    ({ wal } = await openWal(storage, SMALL));
    expect(!wal.segments()[0]!.sealed, 'the first segment is still open');
    for (let i = 6; i <= 60; i++) await wal.append([event(i)]);
    expect(wal.segments()[0]!.sealed, 'and now sealed');
    await wal.close();
    const reopened = await openWal(storage, SMALL);
    expectEqual(reopened.report.issues, [], 'every footer verifies');
    expectEqual(
      (await readAll(reopened.wal)).map((e) => e.event),
      Array.from({ length: 60 }, (_, i) => event(i + 1)),
      'events',
    );
    await reopened.wal.close();
  },

  async 'whole sealed segments imported into a copy are stored byte for byte and continue its LSNs'(fresh) {
    const leaderStorage = await fresh();
    const copyStorage = await fresh();
    const leader = (await openWal(leaderStorage, SMALL)).wal;
    for (let i = 1; i <= 80; i++) await leader.append([event(i)]);
    const sealed = leader.segments().filter((s) => s.sealed);
    expect(sealed.length >= 3, 'several sealed segments');
    let copy = (await openWal(copyStorage, SMALL)).wal;
    const seen: number[] = [];
    copy.onCommit((batch) => seen.push(batch.firstLsn));
    const first = await leader.readSealedSegment(sealed[0]!.id);
    expectEqual(await copy.importSealedSegment(sealed[0]!.id, first), { first: 1, last: sealed[0]!.lastLsn }, 'first segment');
    await expectTidalError(
      copy.importSealedSegment(sealed[2]!.id, await leader.readSealedSegment(sealed[2]!.id)),
      'HeaderMismatch',
      'a segment that skips LSNs',
    );
    // Batches one by one, then whole segments again once at a boundary.
    const batches: Uint8Array[] = [];
    for await (const batch of leader.readBatches(sealed[1]!.baseLsn)) if (batch.lastLsn <= sealed[1]!.lastLsn) batches.push(batch.bytes);
    await copy.importBatches(batches.slice(0, 1));
    await expectTidalError(
      copy.importSealedSegment(sealed[1]!.id, await leader.readSealedSegment(sealed[1]!.id)),
      'HeaderMismatch',
      'a whole segment after a partial one',
    );
    await copy.importBatches(batches.slice(1));
    await copy.close();
    copy = (await openWal(copyStorage, SMALL)).wal; // the copy's segment 1 is still open: seal it by importing on
    for await (const batch of leader.readBatches(sealed[2]!.baseLsn)) await copy.importBatches([batch.bytes]);
    expectEqual(seen.slice(0, 3), [1, 2, 3], 'commit listeners saw its batches');
    expectEqual(
      (await readAll(copy)).map((e) => e.event),
      Array.from({ length: 80 }, (_, i) => event(i + 1)),
      'every event',
    );
    await copy.close();
    // Read once the copy is closed: an open WAL holds its newest sealed segments' handles (exclusive in OPFS).
    expectEqual(await fileBytes(copyStorage, sealed[0]!.id.fileName()), first, 'the imported segment file is the leader file');
    const reopened = await openWal(copyStorage, SMALL);
    expectEqual(reopened.report.issues, [], 'the copy recovers clean');
    expectEqual(reopened.report.lastLsn, 80, 'whole');
    await reopened.wal.close();
    await leader.close();
  },

  async 'a full storage rejects the batch with StorageFull, acknowledges nothing of it, keeps serving reads, and appends resume once there is room'(
    fresh,
  ) {
    const storage = new FaultyStorage(await fresh());
    const { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 30; i++) await wal.append([event(i)]);
    storage.fault = 'full';
    // Enough refused appends that some of them would have sealed a segment or started one.
    for (let i = 31; i <= 70; i++) await expectTidalError(wal.append([event(i)]), 'StorageFull', `append ${i} while storage is full`);
    const concurrent = [wal.append([event(71)]), wal.append([event(72)])];
    for (const refused of concurrent) await expectTidalError(refused, 'StorageFull', 'every write of a refused batch');
    expect(storage.refusals > 0, 'the storage refused writes');
    expectEqual(wal.lastLsn, 30, 'nothing refused got an LSN');
    expectEqual((await readAll(wal)).length, 30, 'reads go on while storage is full');
    storage.fault = undefined;
    expectEqual(await wal.append([event(31)]), { first: 31, last: 31 }, 'appends resume, LSNs dense');
    for (let i = 32; i <= 80; i++) await wal.append([event(i)]);
    expect(wal.segments().filter((s) => s.sealed).length >= 2, 'segments went on rolling');
    await wal.close();
    const reopened = await openWal(storage, SMALL);
    expectEqual(reopened.report.issues, [], 'nothing of the refused batches is left in the log');
    expectEqual(
      (await readAll(reopened.wal)).map((e) => e.event),
      Array.from({ length: 80 }, (_, i) => event(i + 1)),
      'exactly the acknowledged events, in order',
    );
    await reopened.wal.close();
  },

  async 'a lost handle fails its batch with StorageError; the log puts its segment back through a new handle and goes on'(fresh) {
    const storage = new FaultyStorage(await fresh());
    const { wal } = await openWal(storage);
    for (let i = 1; i <= 10; i++) await wal.append([event(i)]);
    storage.fault = 'lost-handle';
    await expectTidalError(wal.append([event(11)]), 'StorageError', 'the append on the lost handle');
    expectEqual(await wal.append([event(11)]), { first: 11, last: 11 }, 'the next append goes through');
    await wal.close();
    const reopened = await openWal(storage);
    expectEqual(reopened.report.issues, [], 'clean log');
    expectEqual((await readAll(reopened.wal)).length, 11, 'every acknowledged event');
    await reopened.wal.close();
  },

  async 'compaction deletes sealed segments below the LSN and below every retention, and the log reopens from where it starts'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 120; i++) await wal.append([event(i)]);
    const sealed = wal.segments().filter((s) => s.sealed);
    expect(sealed.length >= 4, 'several sealed segments');
    const cut = sealed[3]!.baseLsn; // segments 0..2 lie wholly below it
    wal.retain('follower-a', sealed[1]!.baseLsn + 1);
    expectEqual(
      (await wal.compact(cut)).map((s) => s.id.fileName()),
      [sealed[0]!.id.fileName()],
      'a retention holds back what its holder still needs',
    );
    wal.retain('follower-a', cut);
    wal.retain('sync', cut + 1000);
    expectEqual(
      (await wal.compact(cut)).map((s) => s.id.fileName()),
      [sealed[1]!.id.fileName(), sealed[2]!.id.fileName()],
      'once it moves on, the rest below the LSN goes',
    );
    expectEqual(wal.firstLsn, cut, 'the log starts at the first kept segment');
    expect(!(await segmentNames(storage)).includes(sealed[0]!.id.fileName()), 'deleted from storage');
    await expectTidalError(readAll(wal, cut - 1), 'Compacted', 'reading below the log start');
    expectEqual((await readAll(wal, cut)).length, 120 - cut + 1, 'reading from the start');
    wal.release('sync');
    expectEqual(await wal.compact(1_000_000), [], 'follower-a still needs everything from the cut');
    await wal.close();
    const reopened = await openWal(storage, SMALL);
    expectEqual(reopened.report.issues, [], 'a compacted log is not a damaged one');
    expectEqual(reopened.wal.firstLsn, cut, 'reopened, it starts where compaction left it');
    expectEqual(await reopened.wal.append([event(121)]), { first: 121, last: 121 }, 'and goes on');
    await reopened.wal.close();
  },

  async 'snapshots are written through a temporary name, load back verified, and a damaged one is quarantined for the older'(fresh) {
    const storage = await fresh();
    const b3 = await loadBlake3();
    const store = new SnapshotStore(storage, b3, { shard: 0, databaseId: databaseIdOf(b3, 'scenario'), chunkBytes: 1000 });
    const body = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
    await store.write({ lsn: 10, hlcHigh: 1n, body: body(5000) });
    const newer = await store.write({ lsn: 20, hlcHigh: 2n, body: body(7000) });
    expect(!(await storage.list()).some((n) => n.endsWith('.tmp')), 'no temporary file left');
    const loaded = await store.loadNewest({ maxLsn: 20 });
    expectEqual([loaded.snapshot?.lsn, loaded.snapshot?.body.length, loaded.issues.length], [20, 7000, 0], 'the newest loads');
    const bytes = await fileBytes(storage, newer.name);
    bytes[3000] = bytes[3000]! ^ 0x20;
    await writeFile(storage, newer.name, bytes);
    const fallback = await store.loadNewest({ maxLsn: 20 });
    expectEqual(fallback.snapshot?.lsn, 10, 'the older one is used');
    expectEqual(
      fallback.issues.map((i) => i.code),
      ['Corrupt'],
      'the damaged one is reported',
    );
    expect((await storage.list()).includes(fallback.issues[0]!.quarantinedAs), 'and kept under its quarantine name');
  },

  async 'a snapshot that storage refuses part-way fails with StorageFull and leaves the previous one intact; the next goes through once there is room'(
    fresh,
  ) {
    const storage = new FaultyStorage(await fresh());
    const b3 = await loadBlake3();
    let fillUp = false;
    const store = new SnapshotStore(storage, b3, {
      shard: 0,
      databaseId: databaseIdOf(b3, 'scenario'),
      chunkBytes: 1000,
      yieldToEvents: async () => {
        if (fillUp) storage.fault = 'full'; // full after the first chunk of the file
      },
    });
    const body = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 5 + n) & 0xff);
    await store.write({ lsn: 10, hlcHigh: 1n, body: body(5000) });
    fillUp = true;
    await expectTidalError(store.write({ lsn: 20, hlcHigh: 2n, body: body(6000) }), 'StorageFull', 'the snapshot storage refused');
    fillUp = false;
    storage.fault = undefined;
    expectEqual(
      (await store.list()).map((s) => s.lsn),
      [10],
      'the refused snapshot is not taken for one',
    );
    const loaded = await store.loadNewest({ maxLsn: 30 });
    expectEqual(
      [loaded.snapshot?.lsn, loaded.snapshot?.body.length, loaded.issues.length],
      [10, 5000, 0],
      'the previous one loads, intact',
    );
    const next = await store.write({ lsn: 30, hlcHigh: 3n, body: body(7000) });
    expectEqual(await store.prune(2), ['0000-0000000000000014.snap.tmp'], 'the torn temporary file is removed by the next prune');
    expectEqual(
      (await storage.list()).filter((n) => n.startsWith('0000-')).sort(),
      ['0000-000000000000000a.snap', next.name],
      'two snapshots, nothing else',
    );
    const reloaded = await store.loadNewest({ maxLsn: 30 });
    expectEqual([reloaded.snapshot?.lsn, reloaded.snapshot?.body.length], [30, 7000], 'the next snapshot loads');
  },
};
