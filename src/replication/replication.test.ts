import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { mulberry32 } from '../common/random.js';
import { InProcessNetwork, withCopiedBytes, withFlippedByte, withTruncatedBytes } from '../transport/index.js';
import type { WireMessage } from '../transport/wire.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import type { Value } from '../wal/payload.js';
import { decodeControl, encodeControl } from './messages.js';
import { EventLog } from './state-machine.js';
import { FollowerDb } from './follower-db.js';
import { WalShipper } from './wal-shipper.js';

const LEADER = { shard: 2, replica: 'leader' };
const FOLLOWER = { shard: 2, replica: 'follower' };
const FAST = { resendTimeoutMs: 80, heartbeatMs: 20 };
const FOLLOWER_FAST = { stallTimeoutMs: 80, requestIntervalMs: 10 };

const prng = mulberry32;

const event = (i: number): Value => ({ op: 'increment', key: `item:${i % 97}`, kind: 'view', by: (i % 5) + 1, at: i });

async function startLeader(
  net: InProcessNetwork,
  options: { segmentBytes?: number; cacheBytes?: number; maxInFlightBytes?: number; storage?: MemoryStorage } = {},
) {
  const storage = options.storage ?? new MemoryStorage();
  const { wal } = await Wal.open(storage, { shard: 2, ...(options.segmentBytes ? { segmentBytes: options.segmentBytes } : {}) });
  const transport = net.connect(LEADER);
  const shipper = new WalShipper({
    wal,
    transport,
    followers: [FOLLOWER],
    ...FAST,
    ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}),
    ...(options.maxInFlightBytes ? { maxInFlightBytes: options.maxInFlightBytes, maxPayloadBytes: options.maxInFlightBytes } : {}),
  });
  shipper.start();
  const leader = {
    storage,
    wal,
    transport,
    shipper,
    async stop() {
      shipper.stop();
      transport.close();
      await wal.close();
    },
  };
  onTestFinished(() => leader.stop());
  return leader;
}

async function startFollower(net: InProcessNetwork, storage = new MemoryStorage(), segmentBytes?: number) {
  const stateMachine = new EventLog();
  const follower = await FollowerDb.open({
    storage,
    shard: 2,
    transport: net.connect(FOLLOWER),
    leader: LEADER,
    stateMachine,
    ...FOLLOWER_FAST,
    ...(segmentBytes ? { segmentBytes } : {}),
  });
  onTestFinished(() => follower.close());
  return { follower, stateMachine, storage };
}

async function leaderLog(wal: Wal): Promise<EventLog> {
  const log = new EventLog();
  for await (const { lsn, event } of wal.read(1)) log.apply(lsn, event);
  return log;
}

async function batchBytes(wal: Wal): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const batch of wal.readBatches(1)) out.push(batch.bytes);
  return out;
}

async function writeEvents(wal: Wal, from: number, count: number, perBatch = 7): Promise<void> {
  for (let i = from; i < from + count; i += perBatch) {
    await wal.append(Array.from({ length: Math.min(perBatch, from + count - i) }, (_, k) => event(i + k)));
  }
}

describe('WalShipper → FollowerDb over InProcessTransport', () => {
  it('ships every committed batch as it commits; the follower equals the leader byte for byte', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { segmentBytes: 16 * 1024 });
    const { follower, stateMachine, storage } = await startFollower(net, undefined, 16 * 1024);
    await writeEvents(leader.wal, 1, 3000);
    await follower.whenApplied(leader.wal.lastLsn);
    expect(stateMachine.encode()).toEqual((await leaderLog(leader.wal)).encode());
    expect(follower.counters).toMatchObject({ payloadsRejected: 0, duplicates: 0, gaps: 0 });
    expect(follower.counters.bytesVerified).toBeGreaterThan(0);
    await follower.close();
    // The follower's own log is a byte-for-byte copy of the leader's batches.
    const copy = (await Wal.open(storage, { shard: 2, segmentBytes: 16 * 1024 })).wal;
    expect(await batchBytes(copy)).toEqual(await batchBytes(leader.wal));
    await copy.close();
  });

  it('detects and heals flipped bytes, drops, duplicates, reorders and truncations, applying nothing wrong', async () => {
    const seed = 0x7eda1;
    const random = prng(seed);
    let held: WireMessage | undefined;
    const faults = { flipped: 0, dropped: 0, duplicated: 0, reordered: 0, truncated: 0 };
    const net = new InProcessNetwork({
      intercept: (m) => {
        if (m.kind === 'control') return random() < 0.1 ? [] : [m];
        const roll = random();
        if (held && roll < 0.5) {
          const first = held;
          held = undefined;
          faults.reordered++;
          return [m, first];
        }
        if (roll < 0.1) return (faults.flipped++, [withFlippedByte(m, Math.floor(random() * m.bytes.byteLength))]);
        if (roll < 0.2) return (faults.dropped++, []);
        if (roll < 0.3) return (faults.duplicated++, [m, withCopiedBytes(m)]);
        if (roll < 0.35) return (faults.truncated++, [withTruncatedBytes(m, Math.floor(random() * m.bytes.byteLength))]);
        if (roll < 0.45 && !held) return ((held = m), []);
        return [m];
      },
    });
    const leader = await startLeader(net);
    const { follower, stateMachine } = await startFollower(net);
    const expected = new EventLog();
    for (let i = 1; i <= 2000; i += 5) {
      const events = Array.from({ length: 5 }, (_, k) => event(i + k));
      const { first } = await leader.wal.append(events);
      events.forEach((e, k) => expected.apply(first + k, e));
    }
    net.intercept = undefined; // a message still held is lost: recovering from that is part of the test
    await follower.whenApplied(2000, 30_000).catch((error) => {
      throw new Error(`seed ${seed}: ${String(error)} faults=${JSON.stringify(faults)} counters=${JSON.stringify(follower.counters)}`);
    });
    expect(stateMachine.encode()).toEqual(expected.encode());
    expect(faults.flipped + faults.truncated).toBeGreaterThan(5);
    expect(follower.counters.payloadsRejected).toBeGreaterThan(0);
    // How many duplicates and gaps the follower sees depends on timing; that it saw some does not.
    expect(follower.counters.duplicates + follower.counters.gaps).toBeGreaterThan(0);
  });

  it('acknowledges and ignores every duplicate delivery', async () => {
    const net = new InProcessNetwork({ intercept: (m) => (m.kind === 'segment' ? [m, withCopiedBytes(m)] : [m]) });
    const leader = await startLeader(net);
    const { follower, stateMachine } = await startFollower(net);
    await writeEvents(leader.wal, 1, 700);
    await follower.whenApplied(700);
    await vi.waitFor(() => expect(follower.counters.duplicates).toBe(follower.counters.payloadsApplied)); // the last copy may still be queued
    expect(stateMachine.encode()).toEqual((await leaderLog(leader.wal)).encode());
  });

  it('holds a payload that arrives ahead of a gap and applies it once the gap fills', async () => {
    let held: WireMessage | undefined;
    const net = new InProcessNetwork({
      intercept: (m) => {
        if (m.kind !== 'segment') return [m];
        if (!held) return ((held = m), []); // hold every other segment...
        const first = held;
        held = undefined;
        return [m, first]; // ...and deliver it after the next one
      },
    });
    const leader = await startLeader(net);
    const { follower, stateMachine } = await startFollower(net);
    for (let i = 1; i <= 100; i++) await leader.wal.append([event(i)]);
    net.intercept = undefined;
    await follower.whenApplied(100);
    expect(follower.counters.gaps).toBeGreaterThan(10);
    expect(stateMachine.encode()).toEqual((await leaderLog(leader.wal)).encode());
  });

  it('a restarted follower replays its own log and resumes from its applied LSN', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net);
    const first = await startFollower(net);
    await writeEvents(leader.wal, 1, 500);
    await first.follower.whenApplied(500);
    await first.follower.close();
    await writeEvents(leader.wal, 501, 500);
    const second = await startFollower(net, first.storage);
    expect(second.follower.appliedLsn).toBe(500);
    expect(second.stateMachine.entries.length).toBe(500); // replayed from its own log
    await second.follower.whenApplied(1000);
    expect(second.stateMachine.encode()).toEqual((await leaderLog(leader.wal)).encode());
    expect(second.follower.counters.eventsApplied).toBe(500); // only the new ones came over the wire
  });

  it('a follower that joins late catches up from the leader storage, whole sealed segments included', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { segmentBytes: 8 * 1024, cacheBytes: 2 * 1024 });
    await writeEvents(leader.wal, 1, 2000);
    expect(leader.wal.segments().filter((s) => s.sealed).length).toBeGreaterThan(5);
    const { follower, stateMachine } = await startFollower(net, undefined, 8 * 1024);
    await follower.whenApplied(2000);
    expect(stateMachine.encode()).toEqual((await leaderLog(leader.wal)).encode());
  });

  it('a restarted leader resumes shipping from the acknowledged LSN, reading from its WAL', async () => {
    const net = new InProcessNetwork();
    const storage = new MemoryStorage();
    const leader = await startLeader(net, { storage });
    const { follower, stateMachine } = await startFollower(net);
    await writeEvents(leader.wal, 1, 300);
    await follower.whenApplied(300);
    await leader.stop();
    const restarted = await startLeader(net, { storage });
    await writeEvents(restarted.wal, 301, 300);
    await follower.whenApplied(600);
    expect(stateMachine.encode()).toEqual((await leaderLog(restarted.wal)).encode());
  });

  it('bounds the bytes in flight to a follower that does not acknowledge', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { maxInFlightBytes: 16 * 1024 });
    const silent = net.connect(FOLLOWER); // receives, never acknowledges
    onTestFinished(() => silent.close());
    await writeEvents(leader.wal, 1, 5000, 50);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cursor = leader.shipper.stats().followers[0]!;
    expect(cursor.inFlightBytes).toBeLessThanOrEqual(16 * 1024 * 2);
    expect(cursor.nextLsn).toBeLessThan(5000);
    expect(silent.counters.bytesReceived).toBeLessThan(100 * 1024);
  });

  it('a promoted follower continues the LSN sequence and leads a new follower', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net);
    const { follower } = await startFollower(net);
    await writeEvents(leader.wal, 1, 400);
    await follower.whenApplied(400);
    await leader.stop();
    const promoted = await follower.promote();
    expect(await promoted.append([event(401)])).toEqual({ first: 401, last: 401 });
    // The promoted log ships to a new follower exactly like the original leader did.
    const transport = net.connect(LEADER);
    const shipper = new WalShipper({ wal: promoted, transport, followers: [FOLLOWER], ...FAST });
    shipper.start();
    onTestFinished(async () => {
      shipper.stop();
      transport.close();
      await promoted.close();
    });
    const next = await startFollower(net);
    await next.follower.whenApplied(401);
    expect(next.stateMachine.encode()).toEqual((await leaderLog(promoted)).encode());
  });

  it('counts and ignores malformed control messages and segments from strangers', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net);
    const { follower, stateMachine } = await startFollower(net);
    await writeEvents(leader.wal, 1, 10);
    await follower.whenApplied(10);
    const stranger = net.connect({ shard: 2, replica: 'stranger' });
    onTestFinished(() => stranger.close());
    // Garbage and lies to the leader from a stranger.
    await stranger.sendControl(LEADER, new Uint8Array([1, 9, 9, 9]));
    await stranger.sendControl(LEADER, encodeControl({ type: 'ack', shard: 2, appliedLsn: 5 }));
    // A forged segment (copied from the leader's real log) sent by a stranger is not applied.
    const [batch] = await batchBytes(leader.wal);
    const { WalSegmentId } = await import('../wal/segment-id.js');
    await stranger.sendSegment(FOLLOWER, { id: new WalSegmentId(2, 0n), bytes: batch!.slice().buffer, eventCount: 7 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(leader.shipper.stats().badControl).toBeGreaterThanOrEqual(2);
    expect(follower.counters.foreign).toBeGreaterThanOrEqual(1);
    expect(stateMachine.entries.length).toBe(10);
    expect(() => decodeControl(new Uint8Array([1, 1, 2, 0, 5, 0xff]))).toThrow(/MalformedMessage/); // trailing byte
    expect(() => decodeControl(new Uint8Array([2, 1, 2, 0, 5]))).toThrow(/MalformedMessage/); // unknown version
  });

  it('admits followers that introduce themselves, and a follower can switch to a new leader of the same log', async () => {
    const net = new InProcessNetwork();
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 2 });
    const first = net.connect({ shard: 2, replica: 'tab-a' });
    const shipper = new WalShipper({ wal, transport: first, admit: (f) => f.replica.startsWith('tab-'), ...FAST });
    shipper.start();
    const stateMachine = new EventLog();
    const follower = await FollowerDb.open({
      storage: new MemoryStorage(),
      shard: 2,
      transport: net.connect({ shard: 2, replica: 'tab-b' }),
      leader: { shard: 2, replica: 'tab-a' },
      stateMachine,
      ...FOLLOWER_FAST,
    });
    onTestFinished(() => follower.close());
    const refused = net.connect({ shard: 2, replica: 'intruder' });
    await refused.sendControl({ shard: 2, replica: 'tab-a' }, encodeControl({ type: 'request', shard: 2, fromLsn: 1, reason: 'hello' }));
    await writeEvents(wal, 1, 50);
    await follower.whenApplied(50);
    expect(shipper.stats().followers.map((f) => f.follower.replica)).toEqual(['tab-b']);
    // A tab that introduced itself and then went silent is dropped after a few unanswered resends.
    const silent = net.connect({ shard: 2, replica: 'tab-z' });
    await silent.sendControl({ shard: 2, replica: 'tab-a' }, encodeControl({ type: 'request', shard: 2, fromLsn: 1, reason: 'hello' }));
    await vi.waitFor(() => expect(shipper.stats().followers.map((f) => f.follower.replica)).toEqual(['tab-b', 'tab-z']));
    await vi.waitFor(() => expect(shipper.stats().followers.map((f) => f.follower.replica)).toEqual(['tab-b']), { timeout: 3000 });
    silent.close();
    // Tab A goes away; tab C takes the same log over and ships on.
    shipper.stop();
    first.close();
    await wal.close();
    const { wal: reopened } = await Wal.open(storage, { shard: 2 });
    const next = net.connect({ shard: 2, replica: 'tab-c' });
    const nextShipper = new WalShipper({ wal: reopened, transport: next, admit: () => true, ...FAST });
    nextShipper.start();
    onTestFinished(async () => {
      nextShipper.stop();
      next.close();
      refused.close();
      await reopened.close();
    });
    follower.setLeader({ shard: 2, replica: 'tab-c' });
    await writeEvents(reopened, 51, 50);
    await follower.whenApplied(100);
    expect(stateMachine.encode()).toEqual((await leaderLog(reopened)).encode());
    expect(follower.counters.eventsApplied).toBe(100);
  });

  it('a follower without a state machine keeps a verified copy of the log and its applied LSN, decoding nothing', async () => {
    const net = new InProcessNetwork();
    const leader = await startLeader(net, { segmentBytes: 8 * 1024 });
    const storage = new MemoryStorage();
    const follower = await FollowerDb.open({
      storage,
      shard: 2,
      transport: net.connect(FOLLOWER),
      leader: LEADER,
      ...FOLLOWER_FAST,
      segmentBytes: 8 * 1024,
    });
    await writeEvents(leader.wal, 1, 500);
    await follower.whenApplied(500);
    expect(follower.counters).toMatchObject({ eventsApplied: 500, payloadsRejected: 0 });
    await follower.close();
    const copy = (await Wal.open(storage, { shard: 2, segmentBytes: 8 * 1024 })).wal;
    expect(await batchBytes(copy)).toEqual(await batchBytes(leader.wal));
    await copy.close();
  });

  it('refuses follower timing and size options out of range before it opens or sends anything', async () => {
    const net = new InProcessNetwork();
    const transport = net.connect(FOLLOWER);
    onTestFinished(() => transport.close());
    const base = { shard: 2, transport, leader: LEADER } as const;
    for (const bad of [
      { stallTimeoutMs: 0 },
      { stallTimeoutMs: NaN },
      { requestIntervalMs: -1 },
      { ackDelayMs: Infinity },
      { maxHeldPayloads: 1.5 },
    ]) {
      const [name] = Object.keys(bad);
      await expect(FollowerDb.open({ ...base, ...bad }), name).rejects.toMatchObject({
        code: 'InvalidArgument',
        message: expect.stringContaining(`FollowerDbOptions.${name}`),
      });
    }
    expect(transport.counters.sent).toBe(0);
  });
});
