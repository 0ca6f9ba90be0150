/**
 * A shipper's status heartbeat tells a follower that its leader is there
 * and how far the log reaches. A follower that was sent a payload since the
 * last heartbeat has word of both already: it is sent none, but it is
 * always sent the first (which a fresh follower waits for before it answers
 * reads), and again once payloads stop.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock, settle } from '../common/testing/manual-clock.js';
import { InProcessNetwork } from '../transport/index.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import { decodeControl } from './messages.js';
import { WalShipper } from './wal-shipper.js';

const LEADER = { shard: 2, replica: 'leader' };
const FOLLOWER = { shard: 2, replica: 'follower' };
const HEARTBEAT_MS = 250;

describe('WalShipper heartbeats', () => {
  it('sends the first status, none to a follower sent a payload since the last tick, and again once payloads stop', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 2 });
    const net = new InProcessNetwork();
    const clock = new ManualClock();
    const leader = net.connect(LEADER);
    const follower = net.connect(FOLLOWER);
    const shipper = new WalShipper({ wal, transport: leader, followers: [FOLLOWER], heartbeatMs: HEARTBEAT_MS, clock });
    shipper.start();
    onTestFinished(async () => {
      shipper.stop();
      leader.close();
      follower.close();
      await wal.close();
    });
    const statuses: number[] = [];
    let payloads = 0;
    void (async () => {
      for (let m; (m = await follower.recvControl()) !== null;) {
        const body = decodeControl(m.bytes);
        if (body.type === 'status') statuses.push(body.lastLsn);
      }
    })();
    void (async () => {
      while ((await follower.recvSegment()) !== null) payloads++;
    })();
    const tick = async () => {
      await clock.advance(HEARTBEAT_MS);
      await settle();
      return statuses.splice(0);
    };

    expect(await tick()).toEqual([0]); // the first, though the log is empty
    expect(await tick()).toEqual([0]); // nothing sent meanwhile
    await wal.append([{ i: 1 }]);
    await settle();
    expect(payloads).toBe(1);
    expect(await tick()).toEqual([]); // the payload said it
    expect(await tick()).toEqual([1]); // payloads stopped
  });
});
