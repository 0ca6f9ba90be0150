/**
 * Test support (not part of the package): a `WalShipper` over a fresh
 * in-process network, with a manual clock, shipping a fresh memory log to
 * one follower, all of it closed when the test finishes.
 *
 *     const { wal, clock, follower } = await shippingLink({ shipAfterMs: 25 });
 *     await wal.append([{ i: 1 }]);
 *     await clock.advance(25);
 */
import { onTestFinished } from 'vitest';
import { ManualClock } from '../../common/testing/manual-clock.js';
import { InProcessNetwork } from '../../transport/index.js';
import { MemoryStorage } from '../../wal/memory-storage.js';
import { Wal } from '../../wal/wal.js';
import type { WalShipperOptions } from '../wal-shipper-options.js';
import { WalShipper } from '../wal-shipper.js';

/** The addresses `shippingLink` uses: a leader and its one follower of shard 2. */
export const LINK_LEADER = { shard: 2, replica: 'leader' };
export const LINK_FOLLOWER = { shard: 2, replica: 'follower' };

/** A started shipper of a fresh log of shard 2 to `LINK_FOLLOWER`, with `options` on top of those. */
export async function shippingLink(options: Partial<Omit<WalShipperOptions, 'wal' | 'transport' | 'clock'>> = {}) {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: LINK_LEADER.shard });
  const net = new InProcessNetwork();
  const clock = new ManualClock();
  const leader = net.connect(LINK_LEADER);
  const follower = net.connect(LINK_FOLLOWER);
  const shipper = new WalShipper({ wal, transport: leader, followers: [LINK_FOLLOWER], clock, ...options });
  shipper.start();
  onTestFinished(async () => {
    shipper.stop();
    leader.close();
    follower.close();
    await wal.close();
  });
  return { wal, clock, shipper, leader, follower };
}
