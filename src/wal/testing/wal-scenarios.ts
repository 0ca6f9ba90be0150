/**
 * The WAL's behaviour, written once and run on every storage backend:
 * `wal.test.ts` runs these on `MemoryStorage` in Node, and
 * `wal.browser.test.ts` runs them on `OpfsStorage` in a dedicated worker in
 * Chromium. They use nothing but the `WalStorage` interface (to plant, cut
 * and corrupt files), and throw on the first broken expectation, so they
 * run without a test framework on the other side of a worker boundary.
 */
import { isTidalError } from '../../common/errors.js';
import { WalSegmentId } from '../segment-id.js';
import type { WalStorage } from '../storage.js';
import { Wal, type WalOptions } from '../wal.js';
import type { Value } from '../payload.js';

/** A fresh, empty storage folder for one scenario. */
export type FreshStorage = () => Promise<WalStorage>;

function fail(message: string): never {
  throw new Error(message);
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

const show = (v: unknown) =>
  JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes[${x.length}]` : x));

export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (!same(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function expect(condition: boolean, what: string): void {
  if (!condition) fail(what);
}

export async function expectTidalError(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (isTidalError(error) && error.code === code) return;
    fail(`${what}: expected TidalError ${code}, got ${String(error)}`);
  }
  fail(`${what}: expected TidalError ${code}, but it succeeded`);
}

export async function readAll(wal: Wal, from = 1): Promise<{ lsn: number; event: Value }[]> {
  const out: { lsn: number; event: Value }[] = [];
  for await (const entry of wal.read(from)) out.push(entry);
  return out;
}

export async function fileBytes(storage: WalStorage, name: string): Promise<Uint8Array> {
  const file = await storage.open(name);
  const bytes = new Uint8Array(file.size());
  file.read(bytes, 0);
  file.close();
  return bytes;
}

export async function writeFile(storage: WalStorage, name: string, bytes: Uint8Array): Promise<void> {
  const file = await storage.open(name, { create: true });
  file.truncate(0);
  file.write(bytes, 0);
  file.flush();
  file.close();
}

export async function segmentNames(storage: WalStorage, shard = 0): Promise<string[]> {
  return (await storage.list()).filter((n) => WalSegmentId.isName(n) && WalSegmentId.parse(n).shard === shard).sort();
}

/** A deterministic event of about 100 bytes. */
export function event(i: number): Value {
  return { op: 'increment', key: `item:${i}`, kind: i % 4 === 0 ? 'click' : 'view', by: (i % 7) + 1, note: 'x'.repeat(40) };
}

export const SMALL: Partial<WalOptions> = { segmentBytes: 4096 };

export async function openWal(storage: WalStorage, options: Partial<WalOptions> = {}) {
  return Wal.open(storage, { shard: 0, ...options });
}

/** Every scenario, by name. */
export const walScenarios: Record<string, (fresh: FreshStorage) => Promise<void>> = {
  async 'appends and reads back every kind of value with dense LSNs from 1'(fresh) {
    const storage = await fresh();
    const { wal, report } = await openWal(storage);
    expectEqual(
      report,
      { segments: 0, batches: 0, events: 0, bytes: 0, deferredSegments: 0, bytesCut: 0, issues: [], lastLsn: 0 },
      'empty report',
    );
    const values: Value[] = [
      'text 🌊 ünïcødé',
      42,
      -7,
      3.5,
      -0,
      Number.NaN,
      2n ** 70n,
      -(2n ** 65n),
      true,
      false,
      null,
      new Uint8Array([1, 2, 255]),
      [1, [2, { a: 'b' }]],
      { nested: { deep: [null, 'x'] } },
    ];
    const range = await wal.append(values);
    expectEqual(range, { first: 1, last: values.length }, 'first range');
    expectEqual(await wal.append(['more']), { first: values.length + 1, last: values.length + 1 }, 'second range');
    const read = await readAll(wal);
    expectEqual(
      read.map((e) => e.lsn),
      Array.from({ length: values.length + 1 }, (_, i) => i + 1),
      'LSNs',
    );
    expectEqual(
      read.map((e) => e.event),
      [...values, 'more'],
      'events',
    );
    await wal.close();
  },

  async 'appends issued in the same tick share one batch; later ticks get their own'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage);
    const sameTick = [wal.append([event(1)]), wal.append([event(2), event(3)]), wal.append([event(4)])];
    expectEqual(
      await Promise.all(sameTick),
      [
        { first: 1, last: 1 },
        { first: 2, last: 3 },
        { first: 4, last: 4 },
      ],
      'ranges of one tick',
    );
    await wal.append([event(5)]);
    await wal.append([event(6)]);
    const batches = [];
    for await (const batch of wal.readBatches(1)) batches.push([batch.firstLsn, batch.lastLsn]);
    expectEqual(
      batches,
      [
        [1, 4],
        [5, 5],
        [6, 6],
      ],
      'batches',
    );
    await wal.close();
  },

  async 'a bad value fails its own append only, and nothing of it is written'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage);
    const good1 = wal.append([event(1)]);
    const bad = wal.append([event(2), [1, undefined as unknown as Value]]);
    const good2 = wal.append([event(3)]);
    await expectTidalError(bad, 'Unencodable', 'undefined inside an array');
    await expectTidalError(wal.append([(() => 1) as unknown as Value]), 'Unencodable', 'a function');
    const cycle: Record<string, Value> = {};
    cycle['self'] = cycle;
    await expectTidalError(wal.append([cycle]), 'Unencodable', 'a cycle');
    expectEqual(
      [await good1, await good2],
      [
        { first: 1, last: 1 },
        { first: 2, last: 2 },
      ],
      'good appends',
    );
    expectEqual(
      (await readAll(wal)).map((e) => e.event),
      [event(1), event(3)],
      'log holds only the good events',
    );
    await wal.close();
  },

  async 'reopening continues the log where it ended'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 100; i++) await wal.append([event(i)]);
    await wal.close();
    const reopened = await openWal(storage, SMALL);
    wal = reopened.wal;
    expectEqual(reopened.report.lastLsn, 100, 'recovered last LSN');
    expectEqual(reopened.report.events, 100, 'recovered events');
    expectEqual(reopened.report.issues, [], 'no issues');
    expect(reopened.report.segments > 1, 'small segments rolled');
    expectEqual(await wal.append([event(101)]), { first: 101, last: 101 }, 'LSNs continue after reopen');
    expectEqual(
      (await readAll(wal)).map((e) => e.event),
      Array.from({ length: 101 }, (_, i) => event(i + 1)),
      'all events',
    );
    await wal.close();
  },

  async 'segments roll at the size bound, are sealed, and are never written again'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 60; i++) await wal.append([event(i)]);
    const segments = wal.segments();
    expect(segments.length >= 3, `expected several segments, got ${segments.length}`);
    expect(
      segments.slice(0, -1).every((s) => s.sealed && s.bytes <= 4096),
      'every segment but the last is sealed within the bound',
    );
    expect(!segments[segments.length - 1]!.sealed, 'the last segment is open');
    for (let i = 1; i < segments.length; i++)
      expectEqual(segments[i]!.baseLsn, segments[i - 1]!.lastLsn + 1, 'LSNs follow on across segments');
    const first = segments[0]!.id.fileName();
    const before = await fileBytes(storage, first);
    for (let i = 61; i <= 120; i++) await wal.append([event(i)]);
    expectEqual(await fileBytes(storage, first), before, 'sealed segment bytes unchanged');
    expectEqual(await wal.readSealedSegment(segments[0]!.id), before, 'readSealedSegment returns the file');
    await wal.close();
  },

  async 'reads from any LSN, inside batches and across segments'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage, SMALL);
    const all: Value[] = [];
    for (let i = 1; i <= 90; i += 3) {
      const events = [event(i), event(i + 1), event(i + 2)];
      all.push(...events);
      await wal.append(events);
    }
    for (const from of [1, 2, 3, 4, 44, 45, 46, 89, 90]) {
      expectEqual(
        (await readAll(wal, from)).map((e) => e.event),
        all.slice(from - 1),
        `read from ${from}`,
      );
    }
    const unverified: Value[] = [];
    for await (const { event } of wal.read(45, { verify: false })) unverified.push(event);
    expectEqual(unverified, all.slice(44), 'a read that checks structure only returns the same events');
    expectEqual(await readAll(wal, 91), [], 'read past the end');
    await wal.close();
  },

  async 'a torn tail is cut on open and reported, and the log goes on'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage);
    for (let i = 1; i <= 10; i++) await wal.append([event(i)]);
    await wal.close();
    const [name] = await segmentNames(storage);
    const bytes = await fileBytes(storage, name!);
    await writeFile(storage, name!, bytes.subarray(0, bytes.length - 20)); // the last batch, torn
    const reopened = await openWal(storage);
    wal = reopened.wal;
    expect(reopened.report.bytesCut > 0, 'bytes cut reported');
    expectEqual(reopened.report.issues, [], 'a torn tail is not damage');
    expectEqual(reopened.report.lastLsn, 9, 'last whole batch kept');
    expectEqual(await wal.append([event(99)]), { first: 10, last: 10 }, 'LSNs continue after the cut');
    expectEqual(
      (await readAll(wal)).map((e) => e.event),
      [...Array.from({ length: 9 }, (_, i) => event(i + 1)), event(99)],
      'events',
    );
    await wal.close();
  },

  async 'a segment whose header was never completely written is dropped on open'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 40; i++) await wal.append([event(i)]);
    await wal.close();
    const names = await segmentNames(storage);
    const next = WalSegmentId.parse(names[names.length - 1]!)
      .next()
      .fileName();
    await writeFile(storage, next, new Uint8Array([0x54, 0x44, 0x4c])); // a crash right after creating it
    const reopened = await openWal(storage, SMALL);
    wal = reopened.wal;
    expectEqual(reopened.report.issues, [], 'no damage');
    expectEqual(reopened.report.lastLsn, 40, 'nothing lost');
    expectEqual(await wal.append([event(41)]), { first: 41, last: 41 }, 'appends go on');
    expectEqual((await readAll(wal)).length, 41, 'all events readable');
    await wal.close();
  },

  async 'damage inside a sealed segment is quarantined and reported, never dropped silently'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 80; i++) await wal.append([event(i)]);
    const victim = wal.segments()[1]!;
    await wal.close();
    const name = victim.id.fileName();
    const bytes = await fileBytes(storage, name);
    bytes[200] = bytes[200]! ^ 0x01;
    await writeFile(storage, name, bytes);
    const reopened = await openWal(storage, SMALL);
    wal = reopened.wal;
    const issue = reopened.report.issues.find((i) => i.segment === name);
    expect(issue !== undefined && issue.code === 'Corrupt', `expected a Corrupt issue for ${name}, got ${show(reopened.report.issues)}`);
    expect((await storage.list()).includes(issue!.quarantinedAs!), 'the damaged file is kept under its quarantine name');
    expectEqual(await fileBytes(storage, issue!.quarantinedAs!), bytes, 'quarantined bytes kept as they were');
    expectEqual(wal.missingRanges(), [{ first: victim.baseLsn, last: victim.lastLsn }], 'missing range');
    await expectTidalError(readAll(wal, victim.baseLsn), 'Corrupt', 'reading inside the gap');
    expectEqual((await readAll(wal, victim.lastLsn + 1)).length, 80 - victim.lastLsn, 'reading after the gap works');
    expectEqual(await wal.append([event(81)]), { first: 81, last: 81 }, 'appends go on');
    await wal.close();
  },

  async 'damage in the middle of the open segment keeps its verified prefix and quarantines the rest'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage);
    for (let i = 1; i <= 10; i++) await wal.append([event(i)]);
    const batches = [];
    for await (const batch of wal.readBatches(1)) batches.push(batch);
    await wal.close();
    const [name] = await segmentNames(storage);
    const bytes = await fileBytes(storage, name!);
    const fourth = 72 + batches.slice(0, 3).reduce((n, b) => n + b.bytes.length, 0);
    bytes[fourth + 80] = bytes[fourth + 80]! ^ 0x40; // inside the 4th batch's payload
    await writeFile(storage, name!, bytes);
    const reopened = await openWal(storage);
    wal = reopened.wal;
    expectEqual(
      reopened.report.issues.map((i) => i.code),
      ['Corrupt', 'Corrupt'],
      'quarantine and lost LSNs reported',
    );
    expectEqual(reopened.report.issues[1]!.missing, { first: 4, last: 10 }, 'lost LSNs: the damaged batch and everything after it');
    expectEqual(
      (await readAll(wal)).map((e) => e.event),
      [event(1), event(2), event(3)],
      'verified prefix kept',
    );
    expectEqual(await wal.append([event(11)]), { first: 11, last: 11 }, 'LSNs of the quarantined batches are not reused');
    await wal.close();
  },

  async 'a file name that parses but disagrees with its header is quarantined'(fresh) {
    const storage = await fresh();
    let { wal } = await openWal(storage, SMALL);
    for (let i = 1; i <= 40; i++) await wal.append([event(i)]);
    const sealed = wal.segments()[0]!;
    await wal.close();
    const impostor = new WalSegmentId(0, 0xfffn).fileName();
    await writeFile(storage, impostor, await fileBytes(storage, sealed.id.fileName()));
    const reopened = await openWal(storage, SMALL);
    wal = reopened.wal;
    const issue = reopened.report.issues.find((i) => i.segment === impostor);
    expect(issue?.code === 'HeaderMismatch', `expected HeaderMismatch for ${impostor}, got ${show(reopened.report.issues)}`);
    expectEqual(reopened.report.lastLsn, 40, 'the real log is whole');
    expectEqual((await readAll(wal)).length, 40, 'every event readable');
    await wal.close();
  },

  async 'other shards and other files in the folder are left alone'(fresh) {
    const storage = await fresh();
    const a = (await Wal.open(storage, { shard: 1 })).wal;
    const b = (await Wal.open(storage, { shard: 2 })).wal;
    await Promise.all([a.append(['one']), b.append(['two', 'three'])]);
    await writeFile(storage, 'notes.txt', new Uint8Array([1, 2, 3]));
    await writeFile(storage, '0001-XYZ.wal', new Uint8Array([1]));
    await a.close();
    await b.close();
    const reopened = await Wal.open(storage, { shard: 1 });
    expectEqual(reopened.report.issues, [], 'no issues');
    expectEqual(
      (await readAll(reopened.wal)).map((e) => e.event),
      ['one'],
      'only shard 1 events',
    );
    await reopened.wal.close();
    expect((await storage.list()).includes('notes.txt'), 'foreign file untouched');
  },

  async 'a closed WAL refuses appends with Closed; an oversized append is refused'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage, { maxBatchBytes: 1000 });
    await expectTidalError(wal.append([new Uint8Array(2000)]), 'PayloadTooLarge', 'over maxBatchBytes');
    const many = Array.from({ length: 30 }, (_, i) => wal.append([new Uint8Array(100 + i)]));
    expectEqual(
      (await Promise.all(many)).map((r) => r.first),
      Array.from({ length: 30 }, (_, i) => i + 1),
      'a big tick splits into several batches',
    );
    let batches = 0;
    for await (const batch of wal.readBatches(1)) {
      batches++;
      expect(batch.payload.length <= 1001, 'each batch within the bound');
    }
    expect(batches > 1, 'several batches');
    await wal.close();
    await expectTidalError(wal.append(['late']), 'Closed', 'append after close');
  },

  async 'relaxed mode acknowledges before flush and still reads back after close'(fresh) {
    const storage = await fresh();
    const { wal } = await openWal(storage, { durable: false });
    await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append([event(i)])));
    await wal.close();
    const reopened = await openWal(storage, { durable: false });
    expectEqual(reopened.report.lastLsn, 50, 'all appended events recovered after a clean close');
    await reopened.wal.close();
  },
};
