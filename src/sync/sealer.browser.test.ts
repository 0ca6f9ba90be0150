import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { InlineSealer, WorkerSealer } from './sealer.js';
import { SyncKeys } from './sync-key.js';

const context = { kind: 'chunk', space: 'root/db', device: 'd'.repeat(32), shard: 0, seq: 1, from: 1, to: 9 };

async function keys(): Promise<SyncKeys> {
  const userKey = new Uint8Array(32);
  crypto.getRandomValues(userKey);
  return SyncKeys.from(userKey);
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const sealWorker = () => new Worker(new URL('./seal.worker.ts', import.meta.url), { type: 'module' });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isTidalError(error) ? error.code : `not a TidalError: ${String(error)}`;
}

describe('WorkerSealer (the seal worker) in Chromium', () => {
  it('seals and names as the calling thread does: each opens what the other sealed', async () => {
    const k = await keys();
    const worker = new WorkerSealer(sealWorker(), k);
    const inline = new InlineSealer(k);
    const plaintext = bytes(300_000, 1);
    const { sealed, name, body } = await worker.seal('chunk', context, plaintext.slice(), 2);
    expect(name).toBe(k.objectName(sealed));
    // The worker made the Blob a PUT sends: the sealed bytes exactly.
    expect(new Uint8Array(await body!.arrayBuffer())).toEqual(sealed);
    expect(await inline.open('chunk', context, sealed, 'sealed in the worker', { name })).toEqual(plaintext);
    const here = await inline.seal('chunk', context, plaintext.slice(), 2);
    expect(await worker.open('chunk', context, here.sealed.slice(), 'sealed here', { name: here.name })).toEqual(plaintext);
    // The first bytes hashed here as they landed (a ranged read), the rest in the worker.
    const names = k.objectNameStream();
    names.update(here.sealed.subarray(0, 100_000));
    expect(await worker.open('chunk', context, here.sealed.slice(), 'sealed here', { name: here.name, hashed: names })).toEqual(plaintext);
    worker.close();
  });

  it("seals a snapshot's parts in the worker, each at its own context: each opens there and nowhere else; the plaintext's buffer is given away", async () => {
    const k = await keys();
    const worker = new WorkerSealer(sealWorker(), k);
    const inline = new InlineSealer(k);
    const plaintext = bytes(1_000_001, 5);
    const part = (i: number, parts = 3) => ({
      kind: 'snapshot',
      space: 'root/db',
      device: 'd'.repeat(32),
      shard: 0,
      lsn: 9,
      part: i,
      parts,
    });
    const sealing = worker.sealParts('snapshot', [part(0), part(1), part(2)], plaintext.slice(), 333_334, 3);
    expect(sealing).toHaveLength(3);
    const sealed = await Promise.all(sealing);
    const opened: Uint8Array[] = [];
    for (const [i, { sealed: bytes, name, body }] of sealed.entries()) {
      expect(name).toBe(k.objectName(bytes));
      expect(new Uint8Array(await body!.arrayBuffer())).toEqual(bytes);
      opened.push(await inline.open('snapshot', part(i), bytes.slice(), `part ${i}`, { name }));
      expect(await codeOf(inline.open('snapshot', part((i + 1) % 3), bytes.slice(), 'another index', { name }))).toBe('DecryptionFailed');
      expect(await codeOf(inline.open('snapshot', part(i, 2), bytes.slice(), 'another count', { name }))).toBe('DecryptionFailed');
    }
    expect(opened.map((p) => p.byteLength)).toEqual([333_334, 333_334, 333_333]);
    expect(new Uint8Array(await new Blob(opened as BlobPart[]).arrayBuffer())).toEqual(plaintext);
    // The calling thread seals the same parts alike (each opens in the worker), and the buffer went to the worker.
    const given = plaintext.slice();
    const here = await Promise.all(inline.sealParts('snapshot', [part(0), part(1), part(2)], plaintext.slice(), 333_334, 3));
    for (const [i, { sealed: bytes, name }] of here.entries()) {
      expect(await worker.open('snapshot', part(i), bytes, `part ${i}`, { name })).toEqual(
        plaintext.subarray(i * 333_334, (i + 1) * 333_334),
      );
    }
    const away = worker.sealParts('snapshot', [part(0), part(1), part(2)], given, 333_334, 3);
    expect(given.byteLength).toBe(0);
    await Promise.all(away);
    // Not as many contexts as parts: refused before anything is sent.
    expect(() => worker.sealParts('snapshot', [part(0)], plaintext.slice(), 333_334, 3)).toThrowError(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    worker.close();
  });

  it('refuses in the worker with the codes the calling thread gives: a changed byte, another context, another name', async () => {
    const k = await keys();
    const worker = new WorkerSealer(sealWorker(), k);
    const { sealed, name } = await worker.seal('chunk', context, bytes(50_000, 2), 2);
    const flipped = sealed.slice();
    flipped[1000]! ^= 1;
    expect(await codeOf(worker.open('chunk', context, flipped.slice(), 'flipped', { name }))).toBe('ObjectMismatch');
    expect(await codeOf(worker.open('chunk', context, flipped, 'flipped, no name'))).toBe('DecryptionFailed');
    expect(await codeOf(worker.open('chunk', { ...context, seq: 2 }, sealed.slice(), 'moved', { name }))).toBe('DecryptionFailed');
    expect(await codeOf(worker.open('chunk', context, sealed.slice(), 'swapped', { name: '0'.repeat(64) }))).toBe('ObjectMismatch');
    expect(await codeOf(worker.open('snapshot', context, sealed.slice(), 'another kind', { name }))).toBe('HeaderMismatch');
    // Refusals leave the worker working.
    expect(await worker.open('chunk', context, sealed, 'intact', { name })).toEqual(bytes(50_000, 2));
    worker.close();
  });

  it('names a chunk of version 3 by its header, nonce and tag, as the calling thread does; refuses a changed byte with the codes the calling thread gives', async () => {
    const k = await keys();
    const worker = new WorkerSealer(sealWorker(), k);
    const inline = new InlineSealer(k);
    const plaintext = bytes(200_000, 8);
    const { sealed, name } = await worker.seal('chunk', context, plaintext.slice());
    expect(sealed[4]).toBe(3);
    expect(name).toBe(k.objectName(sealed));
    const all = k.objectNameStream();
    all.update(sealed);
    expect(name).not.toBe(all.name()); // not named by all its bytes
    expect(await inline.open('chunk', context, sealed.slice(), 'sealed in the worker', { name })).toEqual(plaintext);
    // A stream the first bytes were hashed into (a ranged read that did not see the header yet) changes nothing.
    const hashed = k.objectNameStream();
    hashed.update(sealed.subarray(0, 100_000));
    expect(await worker.open('chunk', context, sealed.slice(), 'with a stream', { name, hashed })).toEqual(plaintext);
    for (const [offset, code] of [
      [10, 'ObjectMismatch'], // the nonce
      [150_000, 'DecryptionFailed'], // the ciphertext
      [sealed.byteLength - 3, 'ObjectMismatch'], // the tag
    ] as const) {
      const changed = sealed.slice();
      changed[offset]! ^= 1;
      expect(await codeOf(worker.open('chunk', context, changed.slice(), 'changed', { name }))).toBe(code);
      expect(await codeOf(inline.open('chunk', context, changed, 'changed', { name }))).toBe(code);
    }
    worker.close();
  });

  it('keeps the calling thread free while it seals: its queued tasks run meanwhile', async () => {
    const k = await keys();
    const worker = new WorkerSealer(sealWorker(), k);
    await worker.seal('chunk', context, bytes(16, 3), 2); // started
    let ticks = 0;
    let running = true;
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      ticks++;
      if (running) port2.postMessage(0);
    };
    port2.postMessage(0);
    const plaintext = new Uint8Array(8 * 1024 * 1024);
    const sealing = worker.seal('snapshot', context, plaintext);
    expect(plaintext.byteLength).toBe(0); // its buffer went to the worker, not copied
    await sealing;
    running = false;
    expect(ticks).toBeGreaterThan(0);
    worker.close();
  });

  it('a shard worker seals in a seal worker of its own (a nested worker), as sync does there', async () => {
    const shardWorker = new Worker(new URL('./testing/nested-sealer.worker.ts', import.meta.url), { type: 'module' });
    const answer = new Promise<{ detached: boolean; opened: boolean; named: boolean }>((resolve) => {
      shardWorker.onmessage = (event: MessageEvent<{ detached: boolean; opened: boolean; named: boolean }>) => resolve(event.data);
    });
    const userKey = new Uint8Array(32);
    crypto.getRandomValues(userKey);
    shardWorker.postMessage(userKey);
    expect(await answer).toEqual({ detached: true, opened: true, named: true });
    shardWorker.terminate();
  });

  it('seals on the calling thread when its worker cannot start, with the same results', async () => {
    const k = await keys();
    const broken = new WorkerSealer(new Worker('/no-such-seal-worker.js', { type: 'module' }), k);
    const plaintext = bytes(10_000, 4);
    const { sealed, name } = await broken.seal('chunk', context, plaintext.slice(), 2);
    expect(name).toBe(k.objectName(sealed));
    expect(await broken.open('chunk', context, sealed, 'sealed here', { name })).toEqual(plaintext);
  });

  /** A worker of `source`, from a blob: what a seal worker that misbehaves looks like from the caller. */
  const scriptWorker = (source: string) => new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));

  it('seals on the calling thread when its worker never says it is ready, once readyMs passed', async () => {
    const k = await keys();
    const silent = new WorkerSealer(scriptWorker('onmessage = () => {};'), k, { readyMs: 300 });
    const plaintext = bytes(10_000, 5);
    const { sealed, name } = await silent.seal('chunk', context, plaintext.slice(), 2);
    expect(name).toBe(k.objectName(sealed));
    expect(await new InlineSealer(k).open('chunk', context, sealed, 'sealed here', { name })).toEqual(plaintext);
  });

  it('fails the requests a hung worker holds with Unreachable after answerMs, and seals the next ones on the calling thread', async () => {
    const k = await keys();
    // Ready, then answers nothing.
    const hung = new WorkerSealer(scriptWorker("onmessage = (e) => { if (e.data.op === 'keys') postMessage({ ready: true }); };"), k, {
      answerMs: 300,
    });
    const [first, second] = [hung.seal('chunk', context, bytes(1000, 6), 2), hung.seal('chunk', context, bytes(1000, 7), 2)];
    expect(await codeOf(first)).toBe('Unreachable');
    expect(await codeOf(second)).toBe('Unreachable');
    const plaintext = bytes(10_000, 8);
    const { sealed, name } = await hung.seal('chunk', context, plaintext.slice(), 2);
    expect(await new InlineSealer(k).open('chunk', context, sealed, 'sealed here', { name })).toEqual(plaintext);
  });
});
