import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { isTidalError } from '../common/errors.js';
import {
  BATCH_HEADER_V2_BYTES,
  decodeBatch,
  decodeSegmentFooter,
  decodeSegmentHeader,
  encodeBatchV1,
  encodeSegmentFooter,
  encodeSegmentHeader,
  fillBatchHeaderV2,
  footerDigestV2,
} from './format.js';
import { MemoryStorage } from './memory-storage.js';
import { Wal } from './wal.js';

const b3 = await loadBlake3();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => Number.parseInt(x, 16)));

function v2Batch(payload: Uint8Array, fields = { shard: 3, eventCount: 2, firstLsn: 0x1_0000_0001, hlc: 0x0192_5f3a_1b2c_0005n }) {
  const batch = new Uint8Array(BATCH_HEADER_V2_BYTES + payload.length);
  batch.set(payload, BATCH_HEADER_V2_BYTES);
  fillBatchHeaderV2(b3, batch, fields);
  return batch;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isTidalError(error)) return error.code;
    throw error;
  }
  return 'ok';
}

describe('BatchHeader v2', () => {
  it('lays out the 72 bytes exactly as docs/FORMAT.md §3.1 says (golden bytes)', () => {
    const payload = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
    const batch = v2Batch(payload);
    expect(hex(batch.subarray(0, 40))).toBe(
      '54444c42' + // magic TDLB
        '0200' + // version 2
        '0000' + // flags
        '0300' + // shard 3
        '0000' + // reserved
        '02000000' + // event count 2
        '0100000001000000' + // first LSN 2^32 + 1
        '05002c1b3a5f9201' + // HLC
        '04000000' + // payload length 4
        '00000000', // reserved
    );
    // BLAKE3 of bytes 0..40 followed by the payload.
    expect(hex(batch.subarray(40, 72))).toBe(hex(b3.hash(batch.subarray(0, 40), payload)));
    expect(hex(batch.subarray(40, 72))).toBe('e180215f86d4c32cc62bb0cb05eb35f160db75eca368f97c260905f335cc52d6');
    const decoded = decodeBatch(b3, batch, 0);
    expect(decoded.header).toEqual({
      version: 2,
      shard: 3,
      eventCount: 2,
      firstLsn: 0x1_0000_0001,
      hlc: 0x0192_5f3a_1b2c_0005n,
      payloadLength: 4,
      headerBytes: 72,
    });
    expect(decoded.end).toBe(76);
  });

  it('refuses each kind of bad header with its own code, without reading out of bounds', () => {
    const good = v2Batch(new Uint8Array(10));
    const mutate = (at: number, value: number) => {
      const copy = good.slice();
      copy[at] = value;
      return copy;
    };
    expect(codeOf(() => decodeBatch(b3, good.subarray(0, 5), 0))).toBe('Truncated');
    expect(codeOf(() => decodeBatch(b3, good.subarray(0, 71), 0))).toBe('Truncated');
    expect(codeOf(() => decodeBatch(b3, good.subarray(0, 80), 0))).toBe('Truncated'); // payload cut
    expect(codeOf(() => decodeBatch(b3, mutate(0, 0x55), 0))).toBe('BadMagic');
    expect(codeOf(() => decodeBatch(b3, mutate(4, 3), 0))).toBe('UnsupportedVersion');
    expect(codeOf(() => decodeBatch(b3, mutate(6, 1), 0))).toBe('UnsupportedFlags');
    expect(codeOf(() => decodeBatch(b3, mutate(10, 1), 0))).toBe('ReservedNotZero');
    expect(codeOf(() => decodeBatch(b3, mutate(36, 1), 0))).toBe('ReservedNotZero');
    expect(codeOf(() => decodeBatch(b3, mutate(35, 0xff), 0))).toBe('Truncated'); // length past the buffer
    expect(codeOf(() => decodeBatch(b3, mutate(50, good[50]! ^ 1), 0))).toBe('DigestMismatch');
    expect(codeOf(() => decodeBatch(b3, mutate(75, good[75]! ^ 1), 0))).toBe('DigestMismatch');
    const zeroEvents = new Uint8Array(BATCH_HEADER_V2_BYTES);
    fillBatchHeaderV2(b3, zeroEvents, { shard: 0, eventCount: 0, firstLsn: 1, hlc: 0n });
    expect(codeOf(() => decodeBatch(b3, zeroEvents, 0))).toBe('LengthOutOfBounds');
    const lsnZero = new Uint8Array(BATCH_HEADER_V2_BYTES);
    fillBatchHeaderV2(b3, lsnZero, { shard: 0, eventCount: 1, firstLsn: 0, hlc: 0n });
    expect(codeOf(() => decodeBatch(b3, lsnZero, 0))).toBe('LengthOutOfBounds');
    expect(codeOf(() => decodeBatch(b3, good, 0, { maxPayloadBytes: 5 }))).toBe('LengthOutOfBounds');
    for (let seed = 1; seed <= 200; seed++) {
      const random = new Uint8Array(seed % 100).map((_, i) => (seed * 7919 + i * 104729) & 0xff);
      expect(codeOf(() => decodeBatch(b3, random, 0))).not.toBe('ok');
    }
  });
});

describe('BatchHeader v1 (read only)', () => {
  it('lays out the 56 bytes as docs/FORMAT.md §3.2 says and reads back', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const batch = encodeBatchV1(b3, { eventCount: 1, firstLsn: 9 }, payload);
    expect(batch.length).toBe(56 + 3);
    expect(hex(batch.subarray(0, 24))).toBe('54444c42' + '0100' + '0000' + '01000000' + '03000000' + '0900000000000000');
    expect(hex(batch.subarray(24, 56))).toBe(hex(b3.hash(batch.subarray(0, 24), payload)));
    expect(decodeBatch(b3, batch, 0).header).toEqual({
      version: 1,
      shard: undefined,
      eventCount: 1,
      firstLsn: 9,
      hlc: 0n,
      payloadLength: 3,
      headerBytes: 56,
    });
  });

  for (const [fixture, sealed] of [
    ['0007-0000000000000000.v1.wal', true],
    ['0007-0000000000000000.v1-open.wal', false],
  ] as const) {
    it(`recovers the ${sealed ? 'sealed' : 'open'} v1 fixture written by the single-shard format, and appends v2 after it`, async () => {
      const bytes = new Uint8Array(readFileSync(new URL(`./fixtures/${fixture}`, import.meta.url)));
      const storage = new MemoryStorage();
      storage.put('0007-0000000000000000.wal', bytes);
      const { wal, report } = await Wal.open(storage, { shard: 7 });
      expect(report).toMatchObject({ segments: 1, batches: 2, events: 3, bytesCut: 0, issues: [], lastLsn: 3 });
      await wal.append(['v2 now']);
      const read: unknown[] = [];
      const versions: number[] = [];
      for await (const batch of wal.readBatches(1)) versions.push(batch.header.version);
      for await (const { event } of wal.read(1)) read.push(event);
      expect(read).toEqual(['hello', { n: 1 }, [true, null, 2.5], 'v2 now']);
      expect(versions).toEqual([1, 1, 2]);
      expect(wal.segments().length).toBe(sealed ? 2 : 1);
      await wal.close();
    });
  }
});

describe('SegmentFooter v2 digest', () => {
  it('is BLAKE3 over the header bytes followed by each batch digest, in order, and binds that order', () => {
    const header = encodeSegmentHeader(b3, { shard: 1, seq: 0n, baseLsn: 1, createdHlc: 0n });
    const batches = [1, 2].map((firstLsn) => {
      const batch = new Uint8Array(72 + 2);
      batch.set([1, firstLsn], 72);
      fillBatchHeaderV2(b3, batch, { shard: 1, eventCount: 1, firstLsn, hlc: 7n });
      return batch;
    });
    const segment = new Uint8Array(72 + 2 * 74);
    segment.set(header, 0);
    segment.set(batches[0]!, 72);
    segment.set(batches[1]!, 72 + 74);
    const expected = b3.hash(header, batches[0]!.subarray(40, 72), batches[1]!.subarray(40, 72));
    expect(hex(footerDigestV2(b3, segment, [72, 146]))).toBe(hex(expected));
    expect(hex(footerDigestV2(b3, segment, [146, 72]))).not.toBe(hex(expected));
  });

  it('a sealed segment written now has a v2 footer that verifies; a changed footer digest is quarantined', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 2, segmentBytes: 400 });
    for (let i = 0; i < 6; i++) await wal.append([`event ${i}`, { i }]);
    const sealed = wal.segments().find((s) => s.sealed)!;
    await wal.close();
    const bytes = storage.snapshot(sealed.id.fileName());
    const footer = decodeSegmentFooter(bytes, bytes.length - 64);
    expect(footer.version).toBe(2);
    const offsets: number[] = [];
    for (let at = 72; at < bytes.length - 64; at = decodeBatch(b3, bytes, at).end) offsets.push(at);
    expect(hex(footer.digest)).toBe(hex(footerDigestV2(b3, bytes, offsets)));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x80;
    storage.put(sealed.id.fileName(), bytes);
    const { wal: reopened, report } = await Wal.open(storage, { shard: 2, segmentBytes: 400 });
    expect(report.issues[0]).toMatchObject({ code: 'Corrupt', segment: sealed.id.fileName() });
    expect(report.issues[0]!.message).toContain('footer digest');
    await reopened.close();
  });
});

describe('SegmentFooter v1 (read only)', () => {
  // Written by tidal before footer v2: two sealed segments whose footer digest covers every byte
  // before it, and the open segment after them.
  const fixture = ['0005-0000000000000000', '0005-0000000000000001', '0005-0000000000000002'];
  const events = ['one', { n: 2 }, [true, null, 3.5], 'four', { five: 'x'.repeat(100) }, 6, 'seven', { eight: [8] }, 'nine'];

  it('a log whose sealed segments have v1 footers opens, verifies and reads back; new segments get v2 footers', async () => {
    const storage = new MemoryStorage();
    for (const name of fixture) {
      storage.put(`${name}.wal`, new Uint8Array(readFileSync(new URL(`./fixtures/${name}.footer-v1.wal`, import.meta.url))));
    }
    const { wal, report } = await Wal.open(storage, { shard: 5, segmentBytes: 600 });
    expect(report).toMatchObject({ segments: 3, events: 9, bytesCut: 0, issues: [], lastLsn: 9 });
    const read: unknown[] = [];
    for await (const { event } of wal.read(1)) read.push(event);
    expect(read).toEqual(events);
    for (let i = 0; i < 8; i++) await wal.append([`more ${i}`]);
    const sealed = wal.segments().filter((s) => s.sealed);
    expect(sealed.length).toBeGreaterThan(2);
    await wal.close();
    const { wal: reopened, report: again } = await Wal.open(storage, { shard: 5, segmentBytes: 600 });
    expect(again.issues).toEqual([]);
    expect(again.lastLsn).toBe(17);
    const versions = sealed.map((s) => {
      const bytes = storage.snapshot(s.id.fileName());
      return decodeSegmentFooter(bytes, bytes.length - 64).version;
    });
    expect(versions.slice(0, 2)).toEqual([1, 1]);
    expect(versions.slice(2).every((v) => v === 2)).toBe(true);
    await reopened.close();
  });

  it('a v1 footer whose digest does not cover its bytes is quarantined', async () => {
    const storage = new MemoryStorage();
    const first = new Uint8Array(readFileSync(new URL(`./fixtures/${fixture[0]}.footer-v1.wal`, import.meta.url)));
    first[100] = first[100]! ^ 1;
    storage.put(`${fixture[0]}.wal`, first);
    storage.put(`${fixture[1]}.wal`, new Uint8Array(readFileSync(new URL(`./fixtures/${fixture[1]}.footer-v1.wal`, import.meta.url))));
    const { wal, report } = await Wal.open(storage, { shard: 5 });
    expect(report.issues[0]).toMatchObject({ code: 'Corrupt', segment: `${fixture[0]}.wal` });
    await wal.close();
  });
});

describe('segment header and footer', () => {
  it('lay out their bytes as docs/FORMAT.md §2 says', () => {
    const header = encodeSegmentHeader(b3, { shard: 0x0102, seq: 0x2an, baseLsn: 1000, createdHlc: 0x0192_5f3a_1b2c_0000n });
    expect(hex(header.subarray(0, 40))).toBe(
      '54444c53' + '0100' + '0000' + '0201' + '0000' + '00000000' + '2a00000000000000' + 'e803000000000000' + '00002c1b3a5f9201',
    );
    expect(hex(header.subarray(40))).toBe(hex(b3.hash(header.subarray(0, 40))));
    expect(decodeSegmentHeader(b3, header)).toEqual({ shard: 0x0102, seq: 0x2an, baseLsn: 1000, createdHlc: 0x0192_5f3a_1b2c_0000n });
    const flipped = header.slice();
    flipped[20] = 1;
    expect(codeOf(() => decodeSegmentHeader(b3, flipped))).toBe('DigestMismatch');
    expect(codeOf(() => decodeSegmentHeader(b3, header.subarray(0, 71)))).toBe('Truncated');

    const digest = fromHex('11'.repeat(32));
    const footer = encodeSegmentFooter({ batchCount: 5, eventCount: 12, lastLsn: 1011, digest });
    expect(hex(footer.subarray(0, 32))).toBe(
      '54444c46' + '0200' + '0000' + '05000000' + '00000000' + '0c00000000000000' + 'f303000000000000',
    );
    expect(decodeSegmentFooter(footer, 0)).toEqual({ version: 2, batchCount: 5, eventCount: 12, lastLsn: 1011, digest });
    const longer = new Uint8Array(80);
    longer.set(footer);
    expect(codeOf(() => decodeSegmentFooter(longer, 0))).toBe('HeaderMismatch'); // must end the file
  });
});
