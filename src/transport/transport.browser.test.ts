import { afterEach, describe, expect, it } from 'vitest';
import { equalBytes } from '../common/blake3.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { BroadcastChannelTransport } from './broadcast-channel.js';
import { MessagePortTransport } from './message-port.js';
import type { Transport } from './transport.js';

const LEADER = { shard: 3, replica: '' };
const WORKER = { shard: 3, replica: 'w' };
const text = new TextEncoder();
const untext = new TextDecoder();

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/** Starts the peer worker with `init` (transferring `transfer`) and waits for its 'ready'. */
async function startPeer(init: unknown, transfer: Transferable[] = []): Promise<Worker> {
  const worker = new Worker(new URL('./testing/peer.worker.ts', import.meta.url), { type: 'module' });
  cleanup.push(() => worker.terminate());
  const ready = new Promise<void>((resolve, reject) => {
    worker.addEventListener('message', (e) => (e.data === 'ready' ? resolve() : reject(new Error(String(e.data)))), { once: true });
    worker.addEventListener('error', (e) => reject(new Error(e.message)), { once: true });
  });
  worker.postMessage(init, transfer);
  await ready;
  return worker;
}

/** Deterministic bytes for segment `seq` (a different pattern per segment). */
function segmentBytes(seq: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

async function control(transport: Transport, to: typeof WORKER, command: string): Promise<string> {
  await transport.sendControl(to, text.encode(command));
  const reply = await transport.recvControl();
  expect(reply?.from).toEqual(to);
  return untext.decode(reply!.bytes);
}

describe('MessagePortTransport between the page and a module worker', () => {
  async function link(): Promise<{ page: MessagePortTransport; port: MessagePort }> {
    const { port1, port2 } = new MessageChannel();
    await startPeer({ port: port2, local: WORKER, remote: LEADER }, [port2]);
    const page = new MessagePortTransport(port1, { local: LEADER, remote: WORKER });
    cleanup.push(() => page.close());
    return { page, port: port1 };
  }

  it('delivers payloads intact and detaches the sender’s buffer on send', async () => {
    const { page } = await link();
    const sizes = [0, 1, 72, 4096, 4 * 1024 * 1024];
    for (const [i, size] of sizes.entries()) {
      const bytes = segmentBytes(i, size).buffer;
      await page.sendSegment(WORKER, { id: new WalSegmentId(3, BigInt(i)), bytes, eventCount: i * 10 });
      expect(bytes.byteLength).toBe(0); // transferred: detached on the page
    }
    // The worker sends each segment back (transferring it again); compare with fresh copies of the pattern.
    for (const [i, size] of sizes.entries()) {
      const echoed = await page.recvSegment();
      expect(echoed?.id.equals(new WalSegmentId(3, BigInt(i)))).toBe(true);
      expect(echoed?.eventCount).toBe(i * 10);
      expect(echoed?.from).toEqual(WORKER);
      expect(equalBytes(new Uint8Array(echoed!.bytes), segmentBytes(i, size))).toBe(true);
    }
    const stats = JSON.parse(await control(page, WORKER, 'stats'));
    expect(stats).toMatchObject({ received: sizes.length + 1, malformed: 0 });
  });

  it('counts and drops malformed messages posted raw onto the port, while good ones still arrive', async () => {
    const { page, port } = await link();
    // Straight onto the port, bypassing the transport: the worker's transport must validate.
    port.postMessage('not a message');
    port.postMessage({
      tidal: 'transport/1',
      kind: 'segment',
      from: LEADER,
      to: WORKER,
      shard: 3,
      seq: 1n,
      eventCount: 1.5,
      bytes: new ArrayBuffer(8),
    });
    port.postMessage({
      tidal: 'transport/1',
      kind: 'segment',
      from: LEADER,
      to: WORKER,
      shard: 3,
      seq: 1n,
      eventCount: 1,
      bytes: new Uint8Array(8),
    });
    port.postMessage({
      tidal: 'transport/1',
      kind: 'segment',
      from: { shard: 9, replica: '' },
      to: WORKER,
      shard: 3,
      seq: 1n,
      eventCount: 1,
      bytes: new ArrayBuffer(8),
    });
    const bytes = segmentBytes(7, 100);
    await page.sendSegment(WORKER, { id: new WalSegmentId(3, 7n), bytes: bytes.slice().buffer, eventCount: 3 });
    const echoed = await page.recvSegment();
    expect(new Uint8Array(echoed!.bytes)).toEqual(bytes);
    expect(JSON.parse(await control(page, WORKER, 'stats'))).toMatchObject({ malformed: 4, received: 2 });

    // And the other way: the worker posts garbage raw onto its end; the page counts it and keeps going.
    expect(await control(page, WORKER, 'garbage')).toBe('after-garbage');
    expect(page.counters.malformed).toBe(3);
  });

  it('close resolves a pending receive with null and rejects later sends with Closed', async () => {
    const { page } = await link();
    const pending = page.recvSegment();
    page.close();
    expect(await pending).toBeNull();
    const bytes = new ArrayBuffer(4);
    await expect(page.sendSegment(WORKER, { id: new WalSegmentId(3, 0n), bytes, eventCount: 0 })).rejects.toMatchObject({ code: 'Closed' });
    expect(bytes.byteLength).toBe(4);
  });

  it('refuses an address other than its one peer with UnknownPeer', async () => {
    const { page } = await link();
    const bytes = new ArrayBuffer(4);
    await expect(
      page.sendSegment({ shard: 3, replica: 'other' }, { id: new WalSegmentId(3, 0n), bytes, eventCount: 0 }),
    ).rejects.toMatchObject({
      code: 'UnknownPeer',
      details: { shard: 3, replica: 'other' },
    });
    expect(bytes.byteLength).toBe(4);
  });
});

describe('BroadcastChannelTransport', () => {
  function channelName(): string {
    return `tidal:test:${crypto.randomUUID()}`;
  }
  function open(name: string, local: { shard: number; replica: string }, peers?: { shard: number; replica: string }[]) {
    const transport = new BroadcastChannelTransport(new BroadcastChannel(name), { local, ...(peers ? { peers } : {}) });
    cleanup.push(() => transport.close());
    return transport;
  }

  it('delivers to the addressee only; the others ignore it; the payload is a clone', async () => {
    const name = channelName();
    const leader = open(name, LEADER);
    const tabB = open(name, { shard: 3, replica: 'tab-b' });
    const tabC = open(name, { shard: 3, replica: 'tab-c' });
    const original = segmentBytes(1, 1000);
    const bytes = original.slice().buffer;
    await leader.sendSegment({ shard: 3, replica: 'tab-b' }, { id: new WalSegmentId(3, 1n), bytes, eventCount: 4 });
    // BroadcastChannel clones: the sender's buffer is not detached (the contract still says: do not reuse it).
    expect(bytes.byteLength).toBe(1000);
    const got = await tabB.recvSegment();
    expect(got?.bytes).not.toBe(bytes);
    expect(new Uint8Array(got!.bytes)).toEqual(original);
    expect(got?.from).toEqual(LEADER);
    expect(got?.eventCount).toBe(4);

    // Messages from one sender arrive in order, so once tab C has this, it has seen (and ignored) the segment.
    await leader.sendControl({ shard: 3, replica: 'tab-c' }, text.encode('hello'));
    expect(untext.decode((await tabC.recvControl())!.bytes)).toBe('hello');
    expect(tabC.counters).toMatchObject({ ignored: 1, received: 1, malformed: 0 });
    expect(tabB.counters).toMatchObject({ ignored: 1, received: 1 });
  });

  it('counts malformed messages posted raw on the channel and still delivers good ones', async () => {
    const name = channelName();
    const tabB = open(name, { shard: 3, replica: 'tab-b' });
    const rogue = new BroadcastChannel(name);
    cleanup.push(() => rogue.close());
    rogue.postMessage({ hello: 'world' });
    rogue.postMessage({
      tidal: 'transport/1',
      kind: 'control',
      from: LEADER,
      to: { shard: 3, replica: 'tab-b' },
      bytes: new ArrayBuffer(65 * 1024),
    });
    const leader = open(name, LEADER);
    await leader.sendControl({ shard: 3, replica: 'tab-b' }, text.encode('ok'));
    expect(untext.decode((await tabB.recvControl())!.bytes)).toBe('ok');
    expect(tabB.counters).toMatchObject({ malformed: 2, received: 1 });
  });

  it('refuses its own address, and anything outside `peers` when given, with UnknownPeer', async () => {
    const name = channelName();
    const restricted = open(name, LEADER, [{ shard: 3, replica: 'tab-b' }]);
    const open_ = open(name, { shard: 3, replica: 'tab-b' });
    await expect(restricted.sendControl({ shard: 3, replica: 'tab-z' }, new Uint8Array(1))).rejects.toMatchObject({ code: 'UnknownPeer' });
    await expect(open_.sendControl({ shard: 3, replica: 'tab-b' }, new Uint8Array(1))).rejects.toMatchObject({ code: 'UnknownPeer' });
    await open_.sendControl(3, new Uint8Array(1)); // any other address is fine without `peers`
    expect((await restricted.recvControl())?.from).toEqual({ shard: 3, replica: 'tab-b' });
  });

  it('works across contexts: a worker on the same channel receives its segments and sends them back', async () => {
    const name = channelName();
    const page = open(name, LEADER);
    const bystander = open(name, { shard: 3, replica: 'bystander' });
    await startPeer({ channel: name, local: WORKER });
    const original = segmentBytes(5, 256 * 1024);
    await page.sendSegment(WORKER, { id: new WalSegmentId(3, 5n), bytes: original.slice().buffer, eventCount: 12 });
    const echoed = await page.recvSegment();
    expect(echoed?.from).toEqual(WORKER);
    expect(echoed?.id.seq).toBe(5n);
    expect(equalBytes(new Uint8Array(echoed!.bytes), original)).toBe(true);
    // The worker's garbage reaches every instance; both page transports count it and keep running.
    expect(await control(page, WORKER, 'garbage')).toBe('after-garbage');
    expect(page.counters.malformed).toBe(3);
    await page.sendControl({ shard: 3, replica: 'bystander' }, text.encode('sync'));
    await bystander.recvControl();
    expect(bystander.counters).toMatchObject({ malformed: 3, received: 1 });
    expect(bystander.counters.ignored).toBeGreaterThanOrEqual(3); // the segment both ways and the control messages
  });
});
