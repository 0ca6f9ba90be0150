import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalSegmentId } from '../wal/segment-id.js';
import { sameAddress, type PeerAddress } from './address.js';
import { EndpointTransport, type TransportEndpoint } from './endpoint-transport.js';
import type { DropReason, TransportOptions } from './transport.js';
import { WIRE_PROTOCOL } from './wire.js';

/** A carrier a test drives by hand: `emit` injects any value as if it arrived on the port. */
class FakeEndpoint implements TransportEndpoint {
  readonly posted: { message: unknown; transfer: Transferable[] | undefined }[] = [];
  readonly listeners = new Map<string, Set<(event: MessageEvent) => void>>();
  started = 0;
  closed = 0;

  postMessage(message: unknown, transfer?: Transferable[]): void {
    this.posted.push({ message, transfer });
  }
  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(listener);
  }
  removeEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listeners.get(type)?.delete(listener);
  }
  start(): void {
    this.started += 1;
  }
  close(): void {
    this.closed += 1;
  }
  emit(data: unknown, type = 'message'): void {
    for (const listener of this.listeners.get(type) ?? []) listener({ data } as MessageEvent);
  }
  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

const LOCAL: PeerAddress = { shard: 3, replica: 'f1' };
const LEADER: PeerAddress = { shard: 3, replica: '' };

function setup(options: Partial<TransportOptions> & { acceptFrom?: (from: PeerAddress) => boolean } = {}) {
  const endpoint = new FakeEndpoint();
  const drops: [DropReason, string][] = [];
  const transport = new EndpointTransport({
    local: LOCAL,
    endpoint,
    transfer: true,
    canReach: (to) => sameAddress(to, LEADER),
    maxSegmentBytes: 1024,
    maxControlBytes: 16,
    onDrop: (reason, detail) => drops.push([reason, detail]),
    ...options,
  });
  return { endpoint, transport, drops };
}

function goodSegment(seq = 1n, size = 8): Record<string, unknown> {
  return { tidal: WIRE_PROTOCOL, kind: 'segment', from: LEADER, to: LOCAL, shard: 3, seq, eventCount: 2, bytes: new ArrayBuffer(size) };
}

function goodControl(size = 4): Record<string, unknown> {
  return { tidal: WIRE_PROTOCOL, kind: 'control', from: LEADER, to: LOCAL, bytes: new ArrayBuffer(size) };
}

const throwingGetter = Object.defineProperty(goodSegment(), 'bytes', {
  get() {
    throw new Error('boom');
  },
});
const hostileProxy = new Proxy(
  {},
  {
    get() {
      throw new Error('proxy boom');
    },
  },
);

const MALFORMED: [string, unknown][] = [
  ['null', null],
  ['a number', 42],
  ['a string', 'segment'],
  ['an empty object', {}],
  ['a foreign protocol tag', { ...goodSegment(), tidal: 'comlink' }],
  ['an older protocol', { ...goodSegment(), tidal: 'transport/0' }],
  ['a protocol tag with a padded version', { ...goodSegment(), tidal: 'transport/02' }],
  ['a protocol tag of another kind', { ...goodSegment(), tidal: 'transport/2.0' }],
  ['an unknown kind', { ...goodSegment(), kind: 'ack' }],
  ['no sender', { ...goodSegment(), from: undefined }],
  ['a sender shard above u16', { ...goodSegment(), from: { shard: 65536, replica: '' } }],
  ['a fractional sender shard', { ...goodSegment(), from: { shard: 1.5, replica: '' } }],
  ['a replica that is not a string', { ...goodSegment(), from: { shard: 3, replica: 7 } }],
  ['a replica name too long', { ...goodSegment(), from: { shard: 3, replica: 'r'.repeat(65) } }],
  ['no addressee', { ...goodSegment(), to: null }],
  ['bytes as a Uint8Array', { ...goodSegment(), bytes: new Uint8Array(8) }],
  ['bytes as a SharedArrayBuffer', { ...goodSegment(), bytes: new SharedArrayBuffer(8) }],
  ['bytes as an array', { ...goodSegment(), bytes: [1, 2, 3] }],
  ['a segment above the bound', goodSegment(1n, 1025)],
  ['a control message above the bound', goodControl(17)],
  ['a negative event count', { ...goodSegment(), eventCount: -1 }],
  ['a fractional event count', { ...goodSegment(), eventCount: 0.5 }],
  ['an unsafe event count', { ...goodSegment(), eventCount: 2 ** 53 }],
  ['an event count as a string', { ...goodSegment(), eventCount: '2' }],
  ['NaN events', { ...goodSegment(), eventCount: Number.NaN }],
  ['a segment shard above u16', { ...goodSegment(), shard: 70000 }],
  ['a seq as a number', { ...goodSegment(), seq: 1 }],
  ['a negative seq', { ...goodSegment(), seq: -1n }],
  ['a seq above u64', { ...goodSegment(), seq: 1n << 64n }],
  ['a throwing getter', throwingGetter],
  ['a hostile proxy', hostileProxy],
];

describe('EndpointTransport receive validation', () => {
  it.each(MALFORMED)('counts and drops %s, then still delivers good messages', async (_name, raw) => {
    const { endpoint, transport, drops } = setup();
    expect(() => endpoint.emit(raw)).not.toThrow();
    expect(transport.counters).toMatchObject({ malformed: 1, received: 0 });
    expect(drops).toHaveLength(1);
    expect(drops[0]![0]).toBe('malformed');
    endpoint.emit(goodSegment(9n));
    const segment = await transport.recvSegment();
    expect(segment?.id.seq).toBe(9n);
    expect(segment?.eventCount).toBe(2);
    expect(transport.counters).toMatchObject({ malformed: 1, received: 1, bytesReceived: 8 });
  });

  it('reports a message of a newer transport protocol as version skew, not as malformed, whatever its shape', async () => {
    const drops: [DropReason, string, number | undefined][] = [];
    const { endpoint, transport } = setup({ onDrop: (reason, detail, version) => drops.push([reason, detail, version]) });
    endpoint.emit({ ...goodSegment(), tidal: 'transport/2' });
    endpoint.emit({ tidal: 'transport/17', kind: 'something new', frames: [1, 2] });
    expect(transport.counters).toMatchObject({ newerVersion: 2, malformed: 0, received: 0, dropped: 0 });
    expect(drops.map(([reason, , version]) => [reason, version])).toEqual([
      ['newerVersion', 2],
      ['newerVersion', 17],
    ]);
    expect(drops[0]![1]).toMatch(/'transport\/2' is newer than 'transport\/1'/);
    // Nothing of it was delivered; the next message of this protocol is.
    endpoint.emit(goodSegment(9n));
    expect((await transport.recvSegment())?.id.seq).toBe(9n);
  });

  it('accepts the bounds exactly: a segment of maxSegmentBytes and a control message of maxControlBytes', async () => {
    const { endpoint, transport } = setup();
    endpoint.emit(goodSegment(1n, 1024));
    endpoint.emit(goodControl(16));
    expect((await transport.recvSegment())?.bytes.byteLength).toBe(1024);
    expect((await transport.recvControl())?.bytes.byteLength).toBe(16);
    expect(transport.counters.malformed).toBe(0);
  });

  it('ignores messages addressed to another replica, counting them apart from malformed ones', () => {
    const { endpoint, transport, drops } = setup();
    endpoint.emit({ ...goodSegment(), to: { shard: 3, replica: 'f2' } });
    endpoint.emit({ ...goodControl(), to: LEADER });
    expect(transport.counters).toMatchObject({ ignored: 2, malformed: 0, received: 0 });
    expect(drops).toEqual([]);
  });

  it('counts a sender other than the link peer as malformed when the carrier knows its peer', () => {
    const { endpoint, transport } = setup({ acceptFrom: (from) => sameAddress(from, LEADER) });
    endpoint.emit({ ...goodSegment(), from: { shard: 9, replica: '' } });
    expect(transport.counters.malformed).toBe(1);
  });

  it('counts a messageerror (undeserializable message) as malformed', () => {
    const { endpoint, transport, drops } = setup();
    endpoint.emit(undefined, 'messageerror');
    expect(transport.counters.malformed).toBe(1);
    expect(drops[0]![1]).toMatch(/messageerror/);
  });

  it('keeps receiving when the drop hook throws', async () => {
    const { endpoint, transport } = setup({
      onDrop: () => {
        throw new Error('reporter bug');
      },
    });
    expect(() => endpoint.emit('bad')).not.toThrow();
    endpoint.emit(goodControl());
    expect((await transport.recvControl())?.bytes.byteLength).toBe(4);
  });

  it('never throws and accounts for every value exactly once, whatever arrives', () => {
    const { endpoint, transport } = setup({ onDrop: undefined });
    let seen = 0;
    const mutated = fc.record({
      tidal: fc.oneof(fc.constant(WIRE_PROTOCOL), fc.anything()),
      kind: fc.constantFrom('segment', 'control', 'other'),
      from: fc.oneof(fc.constant(LEADER), fc.anything()),
      to: fc.oneof(fc.constant(LOCAL), fc.record({ shard: fc.integer({ min: -1, max: 70000 }), replica: fc.string() })),
      shard: fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.anything()),
      seq: fc.oneof(fc.bigInt({ min: -1n, max: 1n << 65n }), fc.anything()),
      eventCount: fc.oneof(fc.integer(), fc.double(), fc.anything()),
      bytes: fc.oneof(
        fc.integer({ min: 0, max: 2048 }).map((n) => new ArrayBuffer(n)),
        fc.anything(),
      ),
    });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), mutated), (raw) => {
        expect(() => endpoint.emit(raw)).not.toThrow();
        seen += 1;
        const c = transport.counters;
        expect(c.malformed + c.ignored + c.received + c.dropped).toBe(seen);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('EndpointTransport carrier handling', () => {
  it('posts segments with the buffer in the transfer list, and control messages as an exact copy', async () => {
    const { endpoint, transport } = setup();
    const bytes = new ArrayBuffer(4);
    await transport.sendSegment(LEADER, { id: new WalSegmentId(3, 5n), bytes, eventCount: 1 });
    const backing = new Uint8Array(10);
    await transport.sendControl(LEADER, backing.subarray(2, 5));
    const [segment, control] = endpoint.posted;
    expect(segment!.message).toEqual({
      tidal: WIRE_PROTOCOL,
      kind: 'segment',
      from: LOCAL,
      to: LEADER,
      shard: 3,
      seq: 5n,
      eventCount: 1,
      bytes,
    });
    expect(segment!.transfer).toEqual([bytes]);
    const controlBytes = (control!.message as { bytes: ArrayBuffer }).bytes;
    expect(controlBytes.byteLength).toBe(3);
    expect(controlBytes).not.toBe(backing.buffer);
    expect(control!.transfer).toEqual([controlBytes]);
  });

  it('starts the endpoint, and on close detaches its listeners and closes it', () => {
    const { endpoint, transport } = setup();
    expect(endpoint.started).toBe(1);
    expect(endpoint.listenerCount()).toBe(2);
    transport.close();
    expect(endpoint.listenerCount()).toBe(0);
    expect(endpoint.closed).toBe(1);
    endpoint.emit(goodSegment()); // nothing listens any more
    expect(transport.counters.received).toBe(0);
  });

  it('leaves the endpoint open on close when told to', () => {
    const endpoint = new FakeEndpoint();
    const transport = new EndpointTransport({ local: 1, endpoint, transfer: false, canReach: () => true, closeEndpoint: false });
    transport.close();
    expect(endpoint.closed).toBe(0);
    expect(endpoint.listenerCount()).toBe(0);
  });

  it('rejects bad limits at construction', () => {
    const endpoint = new FakeEndpoint();
    for (const limits of [{ maxSegmentBytes: 0 }, { maxControlBytes: -1 }, { maxQueuedSegments: 1.5 }, { maxQueuedControls: Number.NaN }]) {
      expect(() => new EndpointTransport({ local: 1, endpoint, transfer: true, canReach: () => true, ...limits })).toThrow(
        /InvalidArgument/,
      );
    }
  });
});
