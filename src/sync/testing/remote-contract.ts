/**
 * The one contract every `Remote` keeps, run against `MemoryRemote` (in
 * remote.test.ts) and against Ceph's RADOS Gateway through `S3Remote` (in
 * ceph.test.ts): the conditional semantics sync's correctness rests on.
 * Each case works under its own random prefix, so one bucket serves all.
 */
import { describe, expect, it } from 'vitest';
import { isTidalError } from '../../common/errors.js';
import type { Remote } from '../remote.js';
import { listAll } from '../remote.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const prefix = () => `contract/${crypto.randomUUID()}/`;

export function remoteContract(name: string, remote: () => Remote): void {
  describe(`Remote contract: ${name}`, () => {
    it('putIfAbsent creates once and refuses to overwrite', async () => {
      const key = `${prefix()}object`;
      const first = await remote().putIfAbsent(key, bytes('first'));
      expect(first.ok).toBe(true);
      expect(await remote().putIfAbsent(key, bytes('second'))).toEqual({ ok: false });
      const read = await remote().get(key, { maxBytes: 1024 });
      expect(text(read?.bytes)).toBe('first');
      expect(read?.etag).toBe(first.ok && first.etag);
    });

    it('putIfMatch swaps only from the current ETag, and never creates', async () => {
      const key = `${prefix()}manifest`;
      expect(await remote().putIfMatch(key, bytes('x'), 'no-such-etag')).toEqual({ ok: false });
      expect(await remote().get(key, { maxBytes: 1024 })).toBeUndefined();
      const created = await remote().putIfAbsent(key, bytes('v1'));
      if (!created.ok) throw new Error('create failed');
      const swapped = await remote().putIfMatch(key, bytes('v2'), created.etag);
      expect(swapped.ok).toBe(true);
      expect(await remote().putIfMatch(key, bytes('v3'), created.etag)).toEqual({ ok: false }); // stale ETag
      const read = await remote().get(key, { maxBytes: 1024 });
      expect(text(read?.bytes)).toBe('v2');
      expect(read?.etag).toBe(swapped.ok && swapped.etag);
    });

    it('putIfAbsent with the bytes also given as a Blob stores those bytes', async () => {
      const key = `${prefix()}blob`;
      const stored = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
      expect((await remote().putIfAbsent(key, stored, new Blob([stored.slice()]))).ok).toBe(true);
      expect((await remote().get(key, { maxBytes: 5000 }))?.bytes).toEqual(stored);
    });

    it('get answers undefined for a missing key and refuses an object over maxBytes', async () => {
      const key = `${prefix()}big`;
      expect(await remote().get(key, { maxBytes: 10 })).toBeUndefined();
      await remote().putIfAbsent(key, new Uint8Array(4096).fill(7));
      const refused = await remote()
        .get(key, { maxBytes: 100 })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(isTidalError(refused, 'PayloadTooLarge')).toBe(true);
      expect((await remote().get(key, { maxBytes: 4096 }))?.bytes.byteLength).toBe(4096);
    });

    it('get with a range reads those bytes (cut at the end) and the whole size; a range from the end on is Truncated', async () => {
      const key = `${prefix()}ranged`;
      const stored = Uint8Array.from({ length: 10 }, (_, i) => i);
      const put = await remote().putIfAbsent(key, stored);
      const part = await remote().get(key, { maxBytes: 10, range: { offset: 2, length: 3 } });
      expect(part).toEqual({ bytes: new Uint8Array([2, 3, 4]), etag: put.ok && put.etag, size: 10 });
      const tail = await remote().get(key, { maxBytes: 10, range: { offset: 8, length: 5 } });
      expect(tail?.bytes).toEqual(new Uint8Array([8, 9]));
      expect((await remote().get(key, { maxBytes: 10, range: { offset: 0, length: 10 } }))?.bytes).toEqual(stored);
      const refusal = (options: Parameters<Remote['get']>[1]) =>
        remote()
          .get(key, options)
          .then(
            () => undefined,
            (error: unknown) => error,
          );
      expect(isTidalError(await refusal({ maxBytes: 10, range: { offset: 10, length: 1 } }), 'Truncated')).toBe(true);
      expect(isTidalError(await refusal({ maxBytes: 9, range: { offset: 0, length: 2 } }), 'PayloadTooLarge')).toBe(true);
      expect(isTidalError(await refusal({ maxBytes: 10, range: { offset: 0, length: 0 } }), 'InvalidArgument')).toBe(true);
      expect(await remote().get(`${key}-missing`, { maxBytes: 10, range: { offset: 0, length: 2 } })).toBeUndefined();
    });

    it('delete removes an object (and a missing one is no error); the name can be created again', async () => {
      const key = `${prefix()}gone`;
      await remote().putIfAbsent(key, bytes('v1'));
      await remote().delete(key);
      expect(await remote().get(key, { maxBytes: 1024 })).toBeUndefined();
      await remote().delete(key);
      expect((await remote().putIfAbsent(key, bytes('v2'))).ok).toBe(true);
      expect(text((await remote().get(key, { maxBytes: 1024 }))?.bytes)).toBe('v2');
    });

    it('lists by prefix, in key order, page by page', async () => {
      const p = prefix();
      const keys = ['b', 'a', 'c/1', 'c/2', 'd'].map((k) => `${p}${k}`);
      for (const key of keys) await remote().putIfAbsent(key, bytes(key));
      await remote().putIfAbsent(`${p.slice(0, -1)}-other/x`, bytes('elsewhere'));
      const page = await remote().list(p, { limit: 2 });
      expect(page.entries.map((e) => e.key)).toEqual([`${p}a`, `${p}b`]);
      expect(page.truncated).toBe(true);
      const next = await remote().list(p, { limit: 2, startAfter: `${p}b` });
      expect(next.entries.map((e) => e.key)).toEqual([`${p}c/1`, `${p}c/2`]);
      expect((await listAll(remote(), p)).map((e) => e.key)).toEqual([...keys].sort());
      const c1 = await remote().get(`${p}c/1`, { maxBytes: 1024 });
      expect((await remote().list(`${p}c/`)).entries).toEqual([
        { key: `${p}c/1`, size: `${p}c/1`.length, etag: c1?.etag },
        { key: `${p}c/2`, size: `${p}c/2`.length, etag: (await remote().get(`${p}c/2`, { maxBytes: 1024 }))?.etag },
      ]);
    });

    it('eight racing creators: exactly one wins', async () => {
      const key = `${prefix()}race`;
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => remote().putIfAbsent(key, bytes(`writer ${i}`))));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
      const winner = outcomes.findIndex((o) => o.ok);
      expect(text((await remote().get(key, { maxBytes: 1024 }))?.bytes)).toBe(`writer ${winner}`);
    });

    it('eight racing compare-and-swaps from the same ETag: exactly one wins', async () => {
      const key = `${prefix()}cas-race`;
      const created = await remote().putIfAbsent(key, bytes('base'));
      if (!created.ok) throw new Error('create failed');
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => remote().putIfMatch(key, bytes(`writer ${i}`), created.etag)));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
      const winner = outcomes.findIndex((o) => o.ok);
      expect(text((await remote().get(key, { maxBytes: 1024 }))?.bytes)).toBe(`writer ${winner}`);
    });
  });
}
