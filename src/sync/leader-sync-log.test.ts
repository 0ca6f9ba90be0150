import { describe, expect, it } from 'vitest';
import { ShardLeader } from '../session/shard-leader.js';
import type { WriteRequest } from '../session/write.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import { LeaderSyncLog } from './leader-sync-log.js';
import { MemoryRemote } from './memory-remote.js';
import { ShardSync } from './shard-sync.js';
import { randomDevice, userKeys } from './testing/devices.js';

/** A device with one shard: its log on (memory) storage, its leader, its sync. */
async function device(
  remote: MemoryRemote,
  keys: Awaited<ReturnType<typeof userKeys>>,
  storage = new MemoryStorage(),
  id = randomDevice(),
) {
  const { wal } = await Wal.open(storage, { shard: 0 });
  const leader = await ShardLeader.open({ wal, replica: `${id.slice(0, 6)}.0` });
  const sync = new ShardSync({
    remote,
    keys,
    database: 'test',
    device: id,
    shard: 0,
    shards: 1,
    epoch: 1,
    log: new LeaderSyncLog(wal, leader),
  });
  const session = randomDevice(); // 32 hex digits, as a session id is
  const startedAt = Date.now();
  let seq = 0;
  const write = (ops: WriteRequest['ops']) => leader.write({ session, startedAt, seq: ++seq, acked: seq - 1, ops });
  return { id, storage, wal, leader, sync, write };
}

describe('ShardSync on a shard leader’s WAL', () => {
  it('merges other devices into the log as import events: replayed after a restart, never uploaded back, never merged twice', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = await device(remote, keys);
    const b = await device(remote, keys);
    await a.write([{ op: 'increment', key: 'item:1', kind: 'click', by: 3 }]);
    await a.write([{ op: 'set', key: 'item:1', field: 'title', value: 'Tide tables' }]);
    await b.write([{ op: 'increment', key: 'item:1', kind: 'click', by: 4 }]);
    await a.sync.sync();
    await b.sync.sync();
    await a.sync.sync();
    expect(a.leader.state.crdt.counterValue('item:1', 'click')).toBe(7);
    expect(a.leader.state.crdt.encode()).toEqual(b.leader.state.crdt.encode());
    expect(b.leader.state.syncCursors.get(a.id)).toBe(2);
    // b's upload held its own event only.
    expect(a.sync.stats.eventsMerged).toBe(1);

    // b restarts from its log: the merged operations and the cursor are there; a second pull merges nothing.
    await b.wal.close();
    const again = await device(remote, keys, b.storage, b.id);
    expect(again.leader.state.crdt.counterValue('item:1', 'click')).toBe(7);
    expect(again.leader.state.syncCursors.get(a.id)).toBe(2);
    const report = await again.sync.sync();
    expect(report.merged).toBe(0);
    expect(again.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());

    // A local write after the merge orders after it (the clock followed the merged HLCs).
    await again.write([{ op: 'set', key: 'item:1', field: 'title', value: 'Tide tables, revised' }]);
    await again.sync.sync();
    await a.sync.sync();
    expect(a.leader.state.crdt.fieldValue('item:1', 'title')).toBe('Tide tables, revised');
  });

  it('refuses to merge a device up to a cursor already passed (StaleWrite)', async () => {
    const remote = new MemoryRemote();
    const a = await device(remote, await userKeys());
    const from = randomDevice();
    await a.leader.merge(from, 5, [{ op: 'increment', key: 'k', kind: 'c', by: 1, replica: 'x.0' }]);
    await expect(a.leader.merge(from, 5, [{ op: 'increment', key: 'k', kind: 'c', by: 1, replica: 'x.0' }])).rejects.toMatchObject({
      code: 'StaleWrite',
    });
    expect(a.leader.state.crdt.counterValue('k', 'c')).toBe(1);
  });
});
