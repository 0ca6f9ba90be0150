import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { TransportError } from './errors.js';
import { withCopiedBytes, withFlippedByte, withTruncatedBytes } from './faults.js';
import { InProcessNetwork } from './in-process.js';
import { DEFAULT_MAX_SEGMENT_BYTES, type WalSegmentPayload } from './transport.js';
import type { WireMessage } from './wire.js';

const FOLLOWER = { shard: 3, replica: 'f1' } as const;

function payload(seq: number, bytes: number[] | number = [1, 2, 3, 4], eventCount = 1): WalSegmentPayload {
  const data = typeof bytes === 'number' ? new Uint8Array(bytes) : Uint8Array.from(bytes);
  return { id: new WalSegmentId(3, BigInt(seq)), bytes: data.buffer, eventCount };
}

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransportError);
  return error as TransportError;
}

describe('InProcessTransport', () => {
  it('delivers segments in order with their id, bytes, event count and sender, and detaches the sent buffer', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    expect(leader.localShard).toBe(3);
    expect(follower.localAddress).toEqual(FOLLOWER);

    const first = payload(7, [9, 8, 7], 2);
    await leader.sendSegment(FOLLOWER, first);
    await leader.sendSegment(FOLLOWER, payload(8, [5]));
    expect(first.bytes.byteLength).toBe(0); // handed over, like a MessagePort transfer

    const a = await follower.recvSegment();
    expect(a?.id.equals(new WalSegmentId(3, 7n))).toBe(true);
    expect([...new Uint8Array(a!.bytes)]).toEqual([9, 8, 7]);
    expect(a?.eventCount).toBe(2);
    expect(a?.from).toEqual({ shard: 3, replica: '' });
    expect((await follower.recvSegment())?.id.seq).toBe(8n);

    expect(leader.counters).toMatchObject({ sent: 2, bytesSent: 4 });
    expect(follower.counters).toMatchObject({ received: 2, bytesReceived: 4, malformed: 0, dropped: 0 });
  });

  it('resolves a waiting recvSegment when a segment arrives later, waiters in call order', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    const first = follower.recvSegment();
    const second = follower.recvSegment();
    await leader.sendSegment(FOLLOWER, payload(1));
    await leader.sendSegment(FOLLOWER, payload(2));
    expect((await first)?.id.seq).toBe(1n);
    expect((await second)?.id.seq).toBe(2n);
  });

  it('carries control messages on their own lane, copying the bytes of just the given view', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    const backing = Uint8Array.from([0, 1, 2, 3, 4, 5]);
    const view = backing.subarray(2, 5);
    await follower.sendControl(3, view);
    expect(backing.byteLength).toBe(6); // the caller keeps its buffer
    await leader.sendSegment(FOLLOWER, payload(1));

    const control = await leader.recvControl();
    expect([...control!.bytes]).toEqual([2, 3, 4]);
    expect(control!.bytes.buffer.byteLength).toBe(3);
    expect(control!.from).toEqual(FOLLOWER);
    expect((await follower.recvSegment())?.id.seq).toBe(1n); // segments unaffected by the control lane
  });

  it('rejects an unreachable destination with UnknownPeer naming it, before sending', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    net.connect(FOLLOWER);
    const p = payload(1);
    // Shard 3's default replica is the leader itself; replica 'f2' and shard 4 are not connected.
    const error = await rejection(leader.sendSegment({ shard: 3, replica: 'f2' }, p));
    expect(error.code).toBe('UnknownPeer');
    expect(error.details).toMatchObject({ shard: 3, replica: 'f2' });
    expect((await rejection(leader.sendControl(4, new Uint8Array(1)))).details).toMatchObject({ shard: 4, replica: '' });
    expect(p.bytes.byteLength).toBe(4); // nothing was sent, the buffer is still the caller's
    expect(leader.counters.sent).toBe(0);
  });

  it('treats a peer that closed as unknown', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    net.connect(FOLLOWER).close();
    expect(net.has(FOLLOWER)).toBe(false);
    expect((await rejection(leader.sendSegment(FOLLOWER, payload(1)))).code).toBe('UnknownPeer');
    net.connect(FOLLOWER); // the address can be reused
    await leader.sendSegment(FOLLOWER, payload(1));
  });

  it('rejects payloads above the bound with PayloadTooLarge (size and max), leaving the buffer with the caller', async () => {
    expect(DEFAULT_MAX_SEGMENT_BYTES).toBe(64 * 1024 * 1024);
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    const big = payload(1, DEFAULT_MAX_SEGMENT_BYTES + 1);
    const error = await rejection(leader.sendSegment(FOLLOWER, big));
    expect(error.code).toBe('PayloadTooLarge');
    expect(error.details).toEqual({ size: DEFAULT_MAX_SEGMENT_BYTES + 1, max: DEFAULT_MAX_SEGMENT_BYTES });
    expect(big.bytes.byteLength).toBe(DEFAULT_MAX_SEGMENT_BYTES + 1);

    const small = net.connect({ shard: 3, replica: 'small' }, { maxSegmentBytes: 8, maxControlBytes: 2 });
    await small.sendSegment(FOLLOWER, payload(2, 8));
    expect((await rejection(small.sendSegment(FOLLOWER, payload(3, 9)))).details).toEqual({ size: 9, max: 8 });
    const control = await rejection(small.sendControl(FOLLOWER, new Uint8Array(3)));
    expect(control.code).toBe('PayloadTooLarge');
    expect(control.details).toEqual({ size: 3, max: 2 });
    expect(small.counters.sent).toBe(1);
    expect((await follower.recvSegment())?.id.seq).toBe(2n);
  });

  it('refuses malformed arguments with InvalidArgument and sends nothing', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    net.connect(FOLLOWER);
    const bad: [unknown, unknown][] = [
      [70000, payload(1)],
      [{ shard: 3, replica: 'x'.repeat(65) }, payload(1)],
      [FOLLOWER, { ...payload(1), eventCount: -1 }],
      [FOLLOWER, { ...payload(1), eventCount: 1.5 }],
      [FOLLOWER, { ...payload(1), bytes: new Uint8Array(4) }],
      [FOLLOWER, { ...payload(1), id: { shard: 3, seq: 1 } }],
      [FOLLOWER, null],
    ];
    for (const [to, p] of bad) {
      const error = await leader.sendSegment(to as number, p as WalSegmentPayload).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTidalError(error, 'InvalidArgument'), String(error)).toBe(true);
    }
    expect(
      isTidalError(await leader.sendControl(FOLLOWER, [1, 2] as unknown as Uint8Array).catch((e: unknown) => e), 'InvalidArgument'),
    ).toBe(true);
    const sent = payload(1);
    await leader.sendSegment(FOLLOWER, sent);
    // Resending a buffer that was already handed over is refused, not silently sent empty.
    expect(isTidalError(await leader.sendSegment(FOLLOWER, sent).catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
    expect(leader.counters.sent).toBe(1);
  });

  it('on close resolves pending receives with null, discards the queue and rejects later sends with Closed', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    const waitingSegment = leader.recvSegment();
    const waitingControl = leader.recvControl();
    await leader.sendSegment(FOLLOWER, payload(1));
    follower.close();
    follower.close(); // idempotent
    expect(await follower.recvSegment()).toBeNull(); // the queued segment is discarded
    expect(await follower.recvControl()).toBeNull();

    leader.close();
    expect(await waitingSegment).toBeNull();
    expect(await waitingControl).toBeNull();
    const error = await rejection(leader.sendSegment(FOLLOWER, payload(2)));
    expect(error.code).toBe('Closed');
    expect(isTidalError(error, 'Closed')).toBe(true);
    expect((await rejection(leader.sendControl(FOLLOWER, new Uint8Array(1)))).code).toBe('Closed');
  });

  it('bounds the receive queues: beyond the bound, new messages are dropped and counted', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const drops: string[] = [];
    const follower = net.connect(FOLLOWER, {
      maxQueuedSegments: 2,
      maxQueuedControls: 1,
      maxSegmentBytes: 10,
      maxQueuedSegmentBytes: 12,
      onDrop: (reason) => drops.push(reason),
    });
    await leader.sendSegment(FOLLOWER, payload(1, 10));
    await leader.sendSegment(FOLLOWER, payload(2, 3)); // 13 bytes > 12: dropped
    await leader.sendSegment(FOLLOWER, payload(3, 2));
    await leader.sendSegment(FOLLOWER, payload(4, 1)); // third segment: dropped
    await leader.sendControl(FOLLOWER, new Uint8Array(1));
    await leader.sendControl(FOLLOWER, new Uint8Array(1)); // dropped
    expect(follower.counters).toMatchObject({ received: 3, dropped: 3, malformed: 0 });
    expect(drops).toEqual(['queueFull', 'queueFull', 'queueFull']);

    expect((await follower.recvSegment())?.id.seq).toBe(1n);
    expect((await follower.recvSegment())?.id.seq).toBe(3n);
    await leader.sendSegment(FOLLOWER, payload(5, 10)); // room again once drained
    expect((await follower.recvSegment())?.id.seq).toBe(5n);
    expect(() => net.connect({ shard: 3, replica: 'x' }, { maxSegmentBytes: 10, maxQueuedSegmentBytes: 9 })).toThrow(
      /maxQueuedSegmentBytes/,
    );
  });

  it('lets a test drop, duplicate, reorder, corrupt and truncate messages in flight', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    let held: WireMessage | undefined;
    net.intercept = (m) => {
      if (m.kind !== 'segment') return [m];
      switch (m.seq) {
        case 1n:
          return []; // drop
        case 2n:
          return [m, withCopiedBytes(m)]; // duplicate
        case 3n:
          held = m;
          return []; // hold for a reorder
        case 4n:
          return [m, held!]; // ...delivered after 4
        case 5n:
          return [withFlippedByte(m, 1)]; // corrupt
        case 6n:
          return [withTruncatedBytes(m, 2)]; // truncate
        default:
          return [m];
      }
    };
    for (let seq = 1; seq <= 6; seq++) await leader.sendSegment(FOLLOWER, payload(seq, [10, 20, 30, 40]));
    const got: [bigint, number[]][] = [];
    for (let i = 0; i < 6; i++) {
      const s = await follower.recvSegment();
      got.push([s!.id.seq, [...new Uint8Array(s!.bytes)]]);
    }
    expect(got).toEqual([
      [2n, [10, 20, 30, 40]],
      [2n, [10, 20, 30, 40]],
      [4n, [10, 20, 30, 40]],
      [3n, [10, 20, 30, 40]],
      [5n, [10, 235, 30, 40]],
      [6n, [10, 20]],
    ]);
  });

  it('passes whatever an interceptor injects through validation: garbage is counted, good messages still arrive', async () => {
    const net = new InProcessNetwork();
    const leader = net.connect(3);
    const follower = net.connect(FOLLOWER);
    net.intercept = (m) => [{ ...m, eventCount: -3 }, 'garbage', { ...m, bytes: new Uint8Array(m.bytes) }, m];
    await leader.sendSegment(FOLLOWER, payload(1));
    expect(follower.counters).toMatchObject({ malformed: 3, received: 1 });
    expect((await follower.recvSegment())?.id.seq).toBe(1n);
  });
});
