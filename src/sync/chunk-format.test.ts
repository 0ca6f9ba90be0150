/**
 * Chunk plaintexts (docs/SYNC.md §5): the golden bytes of both formats,
 * the refusals of the format-2 reader, an old device's format-1 chunks
 * still merged, and chunks sized to one GET.
 */
import { describe, expect, it } from 'vitest';
import { Encoder } from '../common/bytes.js';
import type { CrdtOperation } from '../crdt/operation.js';
import { encodeValue, type Value } from '../wal/payload.js';
import { CHUNK_VERSION, ChunkWriter, decodeChunk, encodeChunkV1 } from './chunk-format.js';
import { ENVELOPE_VERSION_BYTE, open, seal } from './envelope.js';
import { decodeManifest, encodeManifest } from './format.js';
import { MemoryRemote } from './memory-remote.js';
import { RANGE_BYTES } from './ranged-read.js';
import { SyncSpace } from './sync-space.js';
import { TestDevice, userKeys } from './testing/devices.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const op: CrdtOperation = { op: 'increment', key: 'a', kind: 'c', by: 1, replica: 'r.0', hlc: 1n };
const session = '0'.repeat(32);

function eventBytes(value: Record<string, Value>): Uint8Array {
  const encoder = new Encoder();
  encodeValue(encoder, value);
  return encoder.toBytes();
}

const write = (seq: number, ops: CrdtOperation[] = [op]) =>
  eventBytes({ t: 'write', session, startedAt: 0, seq, acked: seq - 1, at: 0, ops: ops as unknown as Value });

describe('chunk formats', () => {
  it('format 2: a count, then per event its LSN, its length and its bytes as the log holds them (golden bytes)', () => {
    const writer = new ChunkWriter();
    const event = write(1);
    writer.add(5, event);
    expect(writer.size).toBe(ChunkWriter.cost(5, event.byteLength));
    const plaintext = writer.finish();
    // count 1, LSN 5, length 140 (LEB128 8c 01), then the write event's value (docs/PAYLOAD.md).
    expect(hex(plaintext.subarray(0, 4))).toBe('01058c01');
    expect(hex(plaintext.subarray(4))).toBe(hex(event));
    expect(hex(plaintext)).toBe(
      [
        '01058c01', // count 1, LSN 5, length 140
        '0b07017408057772697465', // { 7 entries; t: 'write'
        '0773657373696f6e08203030303030303030303030303030303030303030303030303030303030303030', // session: 32 zeros
        '0973746172746564417480', // startedAt: 0
        '0373657181', // seq: 1
        '0561636b656480', // acked: 0
        '02617480', // at: 0
        '036f70730a010b06026f700809696e6372656d656e74036b6579080161046b696e6408016302627981077265706c6963610803722e3003686c630601', // ops: [{ op: 'increment', key: 'a', kind: 'c', by: 1, replica: 'r.0', hlc: 1n }]
      ].join(''),
    );
    expect(decodeChunk(plaintext, 2, 5, 5, 'chunk')).toEqual([{ lsn: 5, ops: [op] }]);
  });

  it('format 1 (read only): a count, then per event its LSN and its operations (golden bytes)', () => {
    const plaintext = encodeChunkV1([{ lsn: 2, ops: [op] }]);
    expect(hex(plaintext)).toBe(
      '01020a010b06026f700809696e6372656d656e74036b6579080161046b696e6408016302627981077265706c6963610803722e3003686c630601',
    );
    expect(decodeChunk(plaintext, 1, 1, 2, 'chunk')).toEqual([{ lsn: 2, ops: [op] }]);
  });

  it('refuses a format it does not read, an import, trailing bytes and an invalid operation', () => {
    const one = (bytes: Uint8Array) => {
      const writer = new ChunkWriter();
      writer.add(1, bytes);
      return writer.finish();
    };
    expect(() => decodeChunk(one(write(1)), 3, 1, 1, 'c')).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
    const imported = eventBytes({ t: 'import', device: 'ab'.repeat(16), upTo: 3, at: 0, ops: [op] as unknown as Value });
    expect(() => decodeChunk(one(imported), 2, 1, 1, 'c')).toThrow(expect.objectContaining({ code: 'MalformedMessage' }));
    const trailing = new Uint8Array([...write(1), 0]);
    expect(() => decodeChunk(one(trailing), 2, 1, 1, 'c')).toThrow(expect.objectContaining({ code: 'MalformedMessage' }));
    const bad = write(1, [{ ...op, by: -1 }]);
    expect(() => decodeChunk(one(bad), 2, 1, 1, 'c')).toThrow(expect.objectContaining({ code: 'MalformedMessage' }));
    const newer = eventBytes({ t: 'write', v: 9, session, startedAt: 0, seq: 1, acked: 0, at: 0, ops: new Uint8Array(1) });
    expect(() => decodeChunk(one(newer), 2, 1, 1, 'c')).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
    expect(() => decodeChunk(one(write(1)), 2, 2, 2, 'c')).toThrow(expect.objectContaining({ code: 'MalformedMessage' })); // LSN outside
  });

  it.each([
    [1, 'format-1 chunks'],
    [2, 'format-2 chunks named by all their bytes (envelope version 2)'],
  ])("an older device's chunks of envelope version %i still merge: %s", async (version) => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = new TestDevice(remote, keys, { maxChunkBytes: 400 });
    for (let i = 0; i < 6; i++) a.log.increment('item:x', 'click', i + 1);
    await a.sync.sync();
    // Rewrite what a stored as an older build would have: each chunk in that version (named by all its bytes), the manifest listing those.
    const at = new SyncSpace(keys, 'test', a.id, 0, 1);
    const manifestContext = at.manifestContext(at.ownKey);
    const manifest = decodeManifest(await open(keys, 'manifest', manifestContext, remote.peek(at.ownKey)!, 'm'), 'm');
    expect(manifest.entries.length).toBeGreaterThan(1);
    const entries = [];
    for (const entry of manifest.entries) {
      const context = at.chunkContext(a.id, entry.seq, entry.from, entry.to);
      const sealed = remote.peek(at.objectKey(entry.name))!;
      expect(sealed[ENVELOPE_VERSION_BYTE]).toBe(CHUNK_VERSION);
      const plaintext = await open(keys, 'chunk', context, sealed, 'c');
      const events = decodeChunk(plaintext, 2, entry.from, entry.to, 'c');
      const old = await seal(keys, 'chunk', context, version === 1 ? encodeChunkV1(events) : plaintext, version);
      const name = keys.objectName(old);
      const all = keys.objectNameStream();
      all.update(old);
      expect(name).toBe(all.name()); // named by all its bytes
      remote.set(at.objectKey(name), old);
      entries.push({ ...entry, name, size: old.byteLength });
    }
    remote.set(at.ownKey, await seal(keys, 'manifest', manifestContext, encodeManifest({ ...manifest, entries })));
    const reader = new TestDevice(remote, keys);
    await reader.sync.sync();
    expect(reader.sync.stats.refused).toEqual({});
    expect(reader.log.state.counterValue('item:x', 'click')).toBe(21);
  });

  it('a full chunk fits one GET: sealed, it stays within maxChunkBytes (4 MiB by default)', async () => {
    const remote = new MemoryRemote();
    const a = new TestDevice(remote, await userKeys());
    const value = 'x'.repeat(1000);
    for (let i = 0; i < 9000; i++) a.log.set(`item:${i}`, 'body', value);
    await a.sync.sync();
    const sizes = remote
      .keys()
      .filter((k) => k.includes('/o/'))
      .map((k) => remote.peek(k)!.byteLength)
      .sort((x, y) => y - x);
    const chunks = sizes.filter((size) => size > 1_000_000 && size <= RANGE_BYTES);
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks[0]!).toBeGreaterThan(RANGE_BYTES - 2000); // full: within an event of the bound
  });
});
