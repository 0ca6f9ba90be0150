/**
 * A large snapshot takes a follower a while to receive, verify and install
 * before it can acknowledge it. The shipper must wait for that (longer in
 * proportion to the file's size) and not send the whole file again after
 * the ordinary resend timeout; and it must still send it again once even
 * that patience is spent (a follower that lost it).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import { InProcessNetwork } from '../transport/index.js';
import type { Transport } from '../transport/transport.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { encodeSnapshot } from '../wal/snapshot-file.js';
import { Wal } from '../wal/wal.js';
import { encodeControl } from './messages.js';
import { decodeSnapshotChunk } from './snapshot-chunks.js';
import { WalShipper } from './wal-shipper.js';
import { ManualClock, settle } from '../common/testing/manual-clock.js';

const b3 = await loadBlake3();
const SHARD = 2;
const LEADER = { shard: SHARD, replica: 'leader' };
const FOLLOWER = { shard: SHARD, replica: 'follower' };
const RESEND_MS = 2000;
const HEARTBEAT_MS = 250;
/** 4 MiB of body: at the default 1 MiB/s install rate, about 4 s of patience beyond the resend timeout. */
const BODY_BYTES = 4 * 1024 * 1024;

/** Records the offset of every snapshot chunk that reaches the follower (each decoded and checked), until it closes. */
async function receiveChunks(transport: Transport, into: number[]): Promise<void> {
  for (let segment; (segment = await transport.recvSegment()) !== null;) {
    into.push(decodeSnapshotChunk(b3, new Uint8Array(segment.bytes), SHARD).offset);
  }
}

async function setUp() {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: SHARD });
  await wal.append(Array.from({ length: 10 }, (_, i) => ({ i })));
  const body = new Uint8Array(BODY_BYTES).map((_, i) => (i * 31) & 0xff);
  const file = encodeSnapshot(b3, { shard: SHARD, databaseId: b3.hash(new Uint8Array([1])), lsn: 10, hlcHigh: 0n, body });
  const net = new InProcessNetwork();
  const scheduler = new ManualClock();
  const leaderTransport = net.connect(LEADER);
  const followerTransport = net.connect(FOLLOWER);
  const shipper = new WalShipper({
    wal,
    transport: leaderTransport,
    admit: () => true,
    resendTimeoutMs: RESEND_MS,
    heartbeatMs: HEARTBEAT_MS,
    clock: scheduler,
    snapshots: { newestLsn: () => 10, read: async () => ({ lsn: 10, file }) },
  });
  shipper.start();
  onTestFinished(async () => {
    shipper.stop();
    leaderTransport.close();
    followerTransport.close();
    await wal.close();
  });
  // A new follower says hello: it holds nothing, so it is sent the snapshot.
  await followerTransport.sendControl(LEADER, encodeControl({ type: 'request', shard: SHARD, fromLsn: 1, reason: 'hello' }));
  const offsets: number[] = [];
  const receiving = receiveChunks(followerTransport, offsets);
  void receiving; // ends when the follower's transport closes
  await settle();
  return { shipper, scheduler, followerTransport, offsets, fileBytes: file.length };
}

describe('WalShipper sending a large snapshot', () => {
  it('waits for the install acknowledgement longer than the resend timeout, in proportion to the size, and resends once that is spent', async () => {
    const { shipper, scheduler, offsets, fileBytes } = await setUp();
    const sentOnce = offsets.length;
    expect(sentOnce).toBeGreaterThan(3); // 1 MiB chunks
    expect(offsets.filter((o) => o === 0)).toHaveLength(1);

    // Twice the resend timeout passes while the follower installs it: nothing is sent again.
    await scheduler.advance(2 * RESEND_MS);
    await settle();
    expect(offsets).toHaveLength(sentOnce);
    expect(shipper.stats().followers[0]!.snapshotsSent).toBe(1);

    // The follower never answers: once the size's patience is spent too, the snapshot goes again from its start.
    const patienceMs = RESEND_MS + (fileBytes / (1024 * 1024)) * 1000;
    await scheduler.advance(patienceMs - 2 * RESEND_MS + 2 * HEARTBEAT_MS);
    await settle();
    expect(offsets.length).toBe(2 * sentOnce);
    expect(offsets[sentOnce]).toBe(0);
    expect(shipper.stats().followers[0]!.snapshotsSent).toBe(2);
  });

  it('the follower acknowledging the install within that patience ends the snapshot: it is never sent again', async () => {
    const { shipper, scheduler, followerTransport, offsets } = await setUp();
    const sentOnce = offsets.length;
    await scheduler.advance(3 * RESEND_MS);
    await followerTransport.sendControl(LEADER, encodeControl({ type: 'ack', shard: SHARD, appliedLsn: 10 }));
    await settle();
    await scheduler.advance(10 * RESEND_MS);
    await settle();
    expect(offsets).toHaveLength(sentOnce);
    expect(shipper.stats().followers[0]).toMatchObject({ ackedLsn: 10, snapshotsSent: 1 });
  });
});
