/**
 * Scenarios of how recovery reads segments (recovery.ts, `SegmentBuffer`):
 * into room in the hasher's own memory (`Blake3.reserve`, hashed there with
 * no copy) or, where the hasher has none, into a plain buffer, with the
 * same verdicts either way, and the room given back after every open,
 * failed ones too. Written once and run on every storage backend like
 * `wal-scenarios.ts` (memory in `wal.test.ts`, OPFS in a dedicated worker
 * in `wal.browser.test.ts`).
 */
import { createBlake3, type Blake3 } from '../../common/blake3.js';
import { TidalError } from '../../common/errors.js';
import { recoverSegments } from '../recovery.js';
import type { WalStorage } from '../storage.js';
import { Wal } from '../wal.js';
import {
  event,
  expect,
  expectEqual,
  expectTidalError,
  fileBytes,
  segmentNames,
  SMALL,
  writeFile,
  type FreshStorage,
} from './wal-scenarios.js';

/** Recovers the shard-0 log on `storage` with `b3` and closes the handles it left open; returns the report. */
async function recoverAndClose(storage: WalStorage, b3: Blake3) {
  const { recovered, report } = await recoverSegments(storage, b3, 0);
  for (const segment of recovered.segments) segment.file?.close();
  return report;
}

/** A log of `appends` appends of `perAppend` events; returns its segment names. */
async function writeLog(storage: WalStorage, appends: number, perAppend: number, segmentBytes: number): Promise<string[]> {
  const { wal } = await Wal.open(storage, { shard: 0, segmentBytes, hlc: () => 1n });
  for (let i = 0; i < appends; i++) await wal.append(Array.from({ length: perAppend }, (_, j) => event(i * perAppend + j)));
  await wal.close();
  return segmentNames(storage);
}

export const recoveryReadScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async "recovery verifies, cuts and quarantines the same with segments read into the hasher's memory or a plain buffer"(fresh) {
    const simd = await createBlake3();
    const hashers: [string, Blake3][] = [
      ['room in the SIMD build', simd],
      ['the SIMD build with no room to give', { ...simd, reserve: () => undefined }],
      ["hash-wasm's build", await createBlake3('wasm')],
    ];
    const reports = [];
    for (const [what, b3] of hashers) {
      const storage = await fresh();
      const names = await writeLog(storage, 80, 1, SMALL.segmentBytes!);
      // A flipped payload byte in a sealed segment, and a torn tail on the open one.
      const victim = names[1]!;
      const bytes = await fileBytes(storage, victim);
      bytes[200] = bytes[200]! ^ 0x01;
      await writeFile(storage, victim, bytes);
      const last = names[names.length - 1]!;
      const open = await fileBytes(storage, last);
      await writeFile(storage, last, open.subarray(0, open.length - 7));
      const report = await recoverAndClose(storage, b3);
      expectEqual(
        report.issues.map((i) => [i.code, i.segment]),
        [
          ['Corrupt', victim],
          ['Corrupt', undefined],
        ],
        `${what}: the damaged segment quarantined, its LSNs reported missing`,
      );
      expect((await storage.list()).includes(report.issues[0]!.quarantinedAs!), `${what}: the damaged file kept under its quarantine name`);
      expect(report.bytesCut > 0, `${what}: the torn tail cut`);
      reports.push({ ...report, issues: report.issues.map((i) => i.message) });
    }
    expectEqual(reports[1], reports[0], 'a plain buffer: the same report');
    expectEqual(reports[2], reports[0], "hash-wasm's build: the same report");
  },

  async 'recovery gives back the room it read segments into, when it fails too'(fresh) {
    const storage = await fresh();
    // Three segments of 1 MiB: each open reserves 1 MiB of the 16 MiB the SIMD build's memory has.
    const names = await writeLog(storage, 50, 500, 1 << 20);
    expect(names.length === 3, `three segments, got ${names.length}`);
    const b3 = await createBlake3();
    const failing: WalStorage = {
      description: storage.description,
      list: () => storage.list(),
      open: (name, options) =>
        name === names[1] ? Promise.reject(new TidalError('StorageError', `refused to open ${name}`)) : storage.open(name, options),
      rename: (from, to) => storage.rename(from, to),
      remove: (name) => storage.remove(name),
    };
    for (let i = 0; i < 12; i++) {
      const report = await recoverAndClose(storage, b3);
      expectEqual(report.issues, [], 'a clean log');
      // Fails in pass 2, with the first segment read into its room.
      await expectTidalError(recoverAndClose(failing, b3), 'StorageError', 'an open that fails');
    }
    const room = b3.reserve(8 << 20);
    expect(room !== undefined, 'room for 8 MiB after 24 opens of 1 MiB segments: each gave its room back');
    room!.release();
  },

  async 'an open refused because another holder has one of the log files open leaves no handle of its own behind'(fresh) {
    const storage = await fresh();
    const names = await writeLog(storage, 200, 2, SMALL.segmentBytes!);
    expect(names.length >= 4, `several segments, got ${names.length}`);
    // The first, one in the middle and the last (the open one): a previous leader's worker that has not let go yet.
    for (const name of [names[0]!, names[Math.floor(names.length / 2)]!, names[names.length - 1]!]) {
      const held = await storage.open(name);
      let refused = false;
      try {
        const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: SMALL.segmentBytes! });
        await wal.close(); // a backend without exclusive handles (memory) opens it anyway
      } catch (error) {
        expect(error instanceof TidalError && error.code === 'StorageError', `refused with StorageError, got ${String(error)}`);
        refused = true;
      }
      held.close();
      // Once the holder lets go, the log opens: the refused open closed every handle it had taken.
      const { wal, report } = await Wal.open(storage, { shard: 0, segmentBytes: SMALL.segmentBytes! });
      expectEqual(report.issues, [], `a clean log after ${name} was ${refused ? 'refused' : 'shared'}`);
      await wal.close();
    }
  },
};
