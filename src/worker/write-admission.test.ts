import { describe, expect, it } from 'vitest';
import { TidalError } from '../common/errors.js';
import { ManualClock } from '../common/testing/manual-clock.js';
import { ShardLeader } from '../session/shard-leader.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import { incrementRequest } from './testing/write-requests.js';
import { admitFrame } from './write-admission.js';
import { encodeWriteFrame } from './write-frame.js';

describe('admitFrame', () => {
  it("admits a frame's writes to the leader, stamped with its replica and consecutive HLCs, in frame order", async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 1 });
    const clock = new ManualClock({ start: 10 }); // the requests' session started at 1
    const leader = await ShardLeader.open({ wal, replica: 'tab-a.1', clock });
    const frame = encodeWriteFrame(1, [incrementRequest(1), incrementRequest(2), incrementRequest(3)]);
    const outcomes = await admitFrame(() => leader, 1, frame);
    expect(outcomes).toEqual([1, 2, 3].map((lsn) => ({ ok: true, token: { shard: 1, lsn } })));
    for (const seq of [1, 2, 3]) {
      expect(leader.state.crdt.counter(`item-${seq}`, 'click')?.totalsOf('tab-a.1')).toEqual({ increments: 1, decrements: 0 });
    }
    // What the log holds reads back as what was applied: the same replica and stamps on a replay.
    const replayed = await ShardLeader.open({ wal, replica: 'tab-b.1', clock });
    expect(replayed.state.crdt.encode()).toEqual(leader.state.crdt.encode());
    await wal.close();
  });

  it('refuses the writes of a frame whose worker no longer leads with Closed', async () => {
    const frame = encodeWriteFrame(1, [incrementRequest(1)]);
    const outcomes = await admitFrame(
      () => {
        throw new TidalError('Closed', 'shard 1 is not led here');
      },
      1,
      frame,
    ).catch((error: unknown) => error);
    expect(outcomes).toBeInstanceOf(TidalError);
    expect((outcomes as TidalError).code).toBe('Closed');
  });
});
