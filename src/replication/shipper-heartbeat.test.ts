/**
 * A shipper's status heartbeat tells a follower that its leader is there
 * and how far the log reaches. A follower that was sent a payload since the
 * last heartbeat has word of both already: it is sent none, but it is
 * always sent the first (which a fresh follower waits for before it answers
 * reads), and again once payloads stop.
 */
import { describe, expect, it } from 'vitest';
import { settle } from '../common/testing/manual-clock.js';
import { decodeControl } from './messages.js';
import { shippingLink } from './testing/shipping-link.js';

const HEARTBEAT_MS = 250;

describe('WalShipper heartbeats', () => {
  it('sends the first status, none to a follower sent a payload since the last tick, and again once payloads stop', async () => {
    const { wal, clock, follower } = await shippingLink({ heartbeatMs: HEARTBEAT_MS });
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
