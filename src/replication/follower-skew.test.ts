/**
 * A follower whose leader writes a newer format than this build reads
 * (a newer tidal in another tab) meets version skew, not damage: nothing
 * of it is applied or stored, it is not counted as a rejected payload nor
 * asked for again, and the follower stops and says `VersionSkew`. A batch
 * whose version field is merely damaged (its digest fails) stays damage.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBlake3 } from '../common/blake3.js';
import type { TidalError } from '../common/errors.js';
import { InProcessNetwork } from '../transport/index.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { Wal } from '../wal/wal.js';
import { decodeControl } from './messages.js';
import { FollowerDb } from './follower-db.js';
import { EventLog } from './state-machine.js';
import { settle } from '../common/testing/manual-clock.js';

const b3 = await loadBlake3();
const LEADER = { shard: 4, replica: 'leader' };
const FOLLOWER = { shard: 4, replica: 'follower' };
const BATCH_HEADER_BYTES = 72;

/** The first batch of a fresh log of shard 4 (LSNs 1..3), as a leader ships it. */
async function batchBytes(): Promise<Uint8Array> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 4 });
  await wal.append([{ n: 1 }, { n: 2 }, { n: 3 }]);
  for await (const batch of wal.readBatches(1)) {
    await wal.close();
    return batch.bytes.slice();
  }
  throw new Error('no batch');
}

/** `batch` with header version `version`, and (with `reseal`) its digest made again as a writer of that version would. */
function withVersion(batch: Uint8Array, version: number, reseal: boolean): Uint8Array {
  const bytes = batch.slice();
  new DataView(bytes.buffer).setUint16(4, version, true);
  if (reseal) bytes.set(b3.hash(bytes.subarray(0, 40), bytes.subarray(BATCH_HEADER_BYTES)), 40);
  return bytes;
}

async function open() {
  const net = new InProcessNetwork();
  const leader = net.connect(LEADER);
  const stateMachine = new EventLog();
  const skews: TidalError[] = [];
  const follower = await FollowerDb.open({
    storage: new MemoryStorage(),
    shard: 4,
    transport: net.connect(FOLLOWER),
    leader: LEADER,
    stateMachine,
    requestIntervalMs: 0,
    onVersionSkew: (error) => skews.push(error),
  });
  const requests: string[] = [];
  void (async () => {
    for (let m; (m = await leader.recvControl()) !== null;) {
      const body = decodeControl(m.bytes);
      if (body.type === 'request') requests.push(body.reason);
    }
  })();
  onTestFinished(async () => {
    await follower.close();
    leader.close();
  });
  const ship = async (bytes: Uint8Array) => {
    await leader.sendSegment(FOLLOWER, { id: new WalSegmentId(4, 0n), bytes: bytes.buffer as ArrayBuffer, eventCount: 3 });
    await settle();
  };
  return { follower, stateMachine, skews, requests, ship };
}

describe('FollowerDb meeting a newer format', () => {
  it('a verified batch of a newer version: VersionSkew, nothing applied, not counted as damage, not asked for again', async () => {
    const { follower, stateMachine, skews, requests, ship } = await open();
    await ship(withVersion(await batchBytes(), 3, true));
    expect(skews.map((e) => e.code)).toEqual(['VersionSkew']);
    expect(follower.failed?.code).toBe('VersionSkew');
    expect(follower.appliedLsn).toBe(0);
    expect(stateMachine.entries).toEqual([]);
    expect(follower.counters).toMatchObject({ payloadsRejected: 0, payloadsApplied: 0, eventsApplied: 0 });
    expect(requests.filter((r) => r === 'rejected')).toEqual([]);
    await expect(follower.whenApplied(1)).rejects.toMatchObject({ code: 'Closed' });
  });

  it('a batch whose version field is damaged (its digest fails) is damage: rejected, asked for again, the follower follows on', async () => {
    const { follower, skews, requests, ship } = await open();
    await ship(withVersion(await batchBytes(), 3, false));
    expect(skews).toEqual([]);
    expect(follower.failed).toBeUndefined();
    expect(follower.counters.payloadsRejected).toBe(1);
    expect(requests).toContain('rejected');
    await ship(await batchBytes()); // the good copy
    expect(follower.appliedLsn).toBe(3);
  });
});
