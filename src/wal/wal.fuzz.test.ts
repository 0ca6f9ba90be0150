import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadBlake3 } from '../common/blake3.js';
import { MemoryStorage } from './memory-storage.js';
import { scanSegment } from './segment-scan.js';
import type { WalSegmentId } from './segment-id.js';
import { Wal } from './wal.js';
import type { Value } from './payload.js';

// Mutated segments fed to the reader: every mutation of a sealed segment is
// detected, and whatever is done to the open one, recovery never crashes,
// never throws anything but a TidalError, and never yields an event that
// differs from what was written at that LSN.

const b3 = await loadBlake3();
const event = (i: number): Value => ({ i, key: `k${i}`, tags: ['a', i % 3 === 0 ? 'b' : 'c'], w: i / 7 });

async function buildLog(): Promise<{
  sealed: Uint8Array;
  open: Uint8Array;
  sealedId: WalSegmentId;
  openId: WalSegmentId;
  events: Value[];
}> {
  const storage = new MemoryStorage();
  const { wal } = await Wal.open(storage, { shard: 5, segmentBytes: 1500 });
  const events: Value[] = [];
  for (let i = 1; i <= 30; i++) {
    const batch = i % 4 === 0 ? [event(i * 10), event(i * 10 + 1)] : [event(i * 10)];
    events.push(...batch);
    await wal.append(batch);
  }
  const segments = wal.segments();
  await wal.close();
  const sealedId = segments[0]!.id;
  const openId = segments[segments.length - 1]!.id;
  return { sealed: storage.snapshot(sealedId.fileName()), open: storage.snapshot(openId.fileName()), sealedId, openId, events };
}

const log = await buildLog();

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number };

const mutation = (size: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(size - 1), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(size - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(size - 1) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(size), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(size - 1), n: fc.integer({ min: 1, max: 16 }) }),
  );

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  const out = bytes.slice();
  switch (m.kind) {
    case 'flip':
      out[m.at] = out[m.at]! ^ (1 << m.bit);
      return out;
    case 'set':
      out.set(m.bytes.subarray(0, out.length - m.at), m.at);
      return out;
    case 'truncate':
      return out.subarray(0, m.at);
    case 'insert':
      return new Uint8Array([...bytes.subarray(0, m.at), ...m.bytes, ...bytes.subarray(m.at)]);
    case 'delete':
      return new Uint8Array([...bytes.subarray(0, m.at), ...bytes.subarray(m.at + m.n)]);
  }
}

const differs = (a: Uint8Array, b: Uint8Array) => a.length !== b.length || a.some((x, i) => x !== b[i]);

describe('WAL reader under mutation (fast-check)', () => {
  it('detects every mutation of a sealed segment', () => {
    fc.assert(
      fc.property(mutation(log.sealed.length), (m) => {
        const mutated = apply(log.sealed, m);
        fc.pre(differs(mutated, log.sealed));
        const scan = scanSegment(b3, mutated, log.sealedId, false);
        expect(scan.kind).toBe('damaged');
      }),
      { seed: 20261124, numRuns: 2000 },
    );
  });

  it('recovers from any mutation of the log without crashing and without applying a wrong event', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), mutation(Math.min(log.sealed.length, log.open.length)), async (hitSealed, m) => {
        const storage = new MemoryStorage();
        // Rebuild the log's files, then mutate one.
        const base = await buildStorage();
        for (const name of await base.list()) storage.put(name, base.snapshot(name));
        const target = (hitSealed ? log.sealedId : log.openId).fileName();
        storage.put(target, apply(storage.snapshot(target), m));

        let opened: Awaited<ReturnType<typeof Wal.open>>;
        try {
          opened = await Wal.open(storage, { shard: 5, segmentBytes: 1500 });
        } catch (error) {
          throw new Error(`recovery threw instead of reporting: ${String(error)}`, { cause: error });
        }
        const { wal, report } = opened;
        // Read every run of LSNs the log still holds; each event must be the one written there.
        const gaps = [...wal.missingRanges()].sort((a, b) => a.first - b.first);
        let from = 1;
        for (const gap of [...gaps, { first: wal.lastLsn + 1, last: wal.lastLsn + 1 }]) {
          if (gap.first > from) {
            let expected = from;
            for await (const entry of wal.read(from)) {
              if (entry.lsn >= gap.first) break;
              expect(entry.lsn).toBe(expected++);
              expect(entry.event).toEqual(log.events[entry.lsn - 1]);
            }
            expect(expected).toBe(gap.first);
          }
          from = Math.max(from, gap.last + 1);
        }
        if (hitSealed) expect(report.issues.length).toBeGreaterThan(0);
        // The log stays writable and its LSNs keep increasing.
        const range = await wal.append(['after']);
        expect(range.first).toBe(report.lastLsn + 1);
        await wal.close();
      }),
      { seed: 424242, numRuns: 300 },
    );
  });
});

let cached: MemoryStorage | undefined;
async function buildStorage(): Promise<MemoryStorage> {
  if (cached) return cached;
  const storage = new MemoryStorage();
  const { wal } = await Wal.open(storage, { shard: 5, segmentBytes: 1500 });
  for (let i = 1; i <= 30; i++) await wal.append(i % 4 === 0 ? [event(i * 10), event(i * 10 + 1)] : [event(i * 10)]);
  await wal.close();
  cached = storage;
  return storage;
}
