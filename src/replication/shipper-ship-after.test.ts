/**
 * `WalShipperOptions.shipAfterMs`: a commit waits that long before it is
 * shipped, and the batches committed meanwhile travel with it in one
 * payload; acknowledgements that arrive meanwhile do not ship them one by
 * one. Without it (the default), each commit is shipped at once.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { settle } from '../common/testing/manual-clock.js';
import { InProcessNetwork } from '../transport/index.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import { encodeControl } from './messages.js';
import { LINK_LEADER, shippingLink } from './testing/shipping-link.js';
import { WalShipper } from './wal-shipper.js';

async function shipping(shipAfterMs: number | undefined) {
  const { wal, clock, follower } = await shippingLink(shipAfterMs === undefined ? {} : { shipAfterMs });
  /** Events per payload received, in order. */
  const payloads: number[] = [];
  void (async () => {
    for (let s; (s = await follower.recvSegment()) !== null;) payloads.push(s.eventCount);
  })();
  const ack = (appliedLsn: number) => follower.sendControl(LINK_LEADER, encodeControl({ type: 'ack', shard: 2, appliedLsn }));
  return { wal, clock, payloads, ack };
}

describe('WalShipper shipAfterMs', () => {
  it('ships each commit at once by default', async () => {
    const { wal, payloads } = await shipping(undefined);
    for (let i = 0; i < 3; i++) {
      await wal.append([{ i }]);
      await settle();
    }
    expect(payloads).toEqual([1, 1, 1]);
  });

  it('ships the commits of the wait in one payload once it is over, acknowledgements meanwhile shipping nothing', async () => {
    const { wal, clock, payloads, ack } = await shipping(25);
    await wal.append([{ i: 1 }]);
    await settle();
    expect(payloads).toEqual([]);
    await clock.advance(10);
    await wal.append([{ i: 2 }, { i: 3 }]);
    await ack(0); // an acknowledgement while commits wait
    await settle();
    expect(payloads).toEqual([]);
    await clock.advance(15);
    await settle();
    expect(payloads).toEqual([3]); // the three events of both commits, in one payload
    // The next commit waits again, from its own commit.
    await ack(3);
    await wal.append([{ i: 4 }]);
    await settle();
    await clock.advance(24);
    await settle();
    expect(payloads).toEqual([3]);
    await clock.advance(1);
    await settle();
    expect(payloads).toEqual([3, 1]);
  });

  it('refuses a wait that is not a number from 0 to 10 s', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 2 });
    onTestFinished(() => wal.close());
    const transport = new InProcessNetwork().connect(LINK_LEADER);
    for (const shipAfterMs of [-1, 10_001, Number.NaN]) {
      expect(() => new WalShipper({ wal, transport, shipAfterMs })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
  });
});
