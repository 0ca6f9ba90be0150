import { describe, expect, it, vi } from 'vitest';
import { Decoder } from '../common/bytes.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { decodeValue, type Value } from '../wal/payload.js';
import { ShardLeader } from '../session/shard-leader.js';
import { asLogEvent, type WriteRequest } from '../session/write.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import { Wal } from '../wal/wal.js';
import { LeaderSyncLog } from './leader-sync-log.js';
import { SYNC_RETENTION } from './sync-retention.js';
import { MemoryRemote } from './memory-remote.js';
import { ShardSync } from './shard-sync.js';
import { randomDevice, userKeys } from './testing/devices.js';

/** A device with one shard: its log on (memory) storage, its leader, its sync. */
async function device(
  remote: MemoryRemote,
  keys: Awaited<ReturnType<typeof userKeys>>,
  storage = new MemoryStorage(),
  id = randomDevice(),
  options: { maxChunkBytes?: number; snapshotMinBytes?: number; snapshotPartBytes?: number } = {},
  segmentBytes?: number,
  maxBatchBytes?: number,
) {
  const { wal } = await Wal.open(storage, {
    shard: 0,
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
    ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
  });
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
    ...options,
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

  it("hands sync its writes' bytes exactly as the WAL holds them, from any LSN, the imports between them left out", async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = await device(remote, keys);
    const b = await device(remote, keys);
    await b.write([{ op: 'increment', key: 'item:1', kind: 'click', by: 4 }]);
    await b.sync.sync();
    await a.write([{ op: 'increment', key: 'item:1', kind: 'click', by: 3 }]);
    await a.sync.sync(); // merges b's event: an import at LSN 2
    await a.write([{ op: 'set', key: 'item:1', field: 'title', value: 'Tide tables' }]);
    const logged = new Map<number, Value>();
    for await (const { lsn, event } of a.wal.read(1)) logged.set(lsn, event);
    expect(asLogEvent(logged.get(2)!).t).toBe('import');
    const log = new LeaderSyncLog(a.wal, a.leader);
    for (const from of [1, 2, 3]) {
      const events = [];
      for await (const { lsn, bytes } of log.localEvents(from)) events.push({ lsn, value: decodeValue(new Decoder(bytes)) });
      expect(events).toEqual([1, 3].filter((lsn) => lsn >= from).map((lsn) => ({ lsn, value: logged.get(lsn) })));
    }
  });

  it('a device joining late merges a snapshot as logged import events (replayed after a restart); the WAL keeps what is not uploaded', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const small = { maxChunkBytes: 2000, snapshotMinBytes: 4000 };
    const a = await device(remote, keys, undefined, undefined, small);
    const b = await device(remote, keys, undefined, undefined, small);
    expect(a.wal.retained().get(SYNC_RETENTION)).toBe(1); // before any upload: everything
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 40; i++) await a.write([{ op: 'increment', key: `item:${i % 4}`, kind: 'click', by: 1 }]);
      await b.write([{ op: 'add', key: 'item:0', set: 'labels', member: `l${round}` }]);
      await a.sync.sync();
      await b.sync.sync();
    }
    expect(a.sync.stats.snapshotsUp).toBeGreaterThan(1);
    // Sync holds the log from the first LSN its manifest does not cover.
    const uploaded = a.leader.state.lastLocalLsn;
    expect(a.wal.retained().get(SYNC_RETENTION)).toBe(uploaded + 1);
    await a.write([{ op: 'increment', key: 'item:0', kind: 'click', by: 1 }]);
    await a.wal.compact(Infinity);
    expect(a.wal.firstLsn).toBeLessThanOrEqual(uploaded + 1); // the write not uploaded yet stays

    const late = await device(remote, keys, undefined, undefined, small);
    await late.sync.sync();
    expect(late.sync.stats.snapshotsMerged).toBeGreaterThanOrEqual(1);
    await a.sync.sync();
    await late.sync.sync();
    expect(late.leader.state.crdt.counterValue('item:0', 'click')).toBe(121);
    expect(late.leader.state.crdt.setMembers('item:0', 'labels')).toHaveLength(12);
    await b.sync.sync();
    expect(late.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());
    expect(late.leader.state.crdt.encode()).toEqual(b.leader.state.crdt.encode());
    // Its log holds the merge: a restart replays it, cursors and all, and the next pull merges nothing.
    await late.wal.close();
    const again = await device(remote, keys, late.storage, late.id, small);
    expect(again.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());
    expect(again.leader.state.syncCursors).toEqual(late.leader.state.syncCursors);
    expect((await again.sync.sync()).merged).toBe(0);
  });

  it('compaction keeps every write not uploaded yet, between import events, across small segments; each reaches the others once', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    // Segments of ~600 bytes: a few batches each, so compaction has sealed segments to delete everywhere.
    const a = await device(remote, keys, undefined, undefined, {}, 600);
    const b = await device(remote, keys);
    const click = (key: string) => [{ op: 'increment' as const, key, kind: 'click', by: 1 }];
    for (let i = 0; i < 20; i++) await a.write(click('item:a'));
    await a.sync.sync(); // a's first 20 uploaded
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) await b.write(click('item:b'));
      await b.sync.sync();
      await a.sync.pull(); // b's writes land in a's log as import events
      for (let i = 0; i < 10; i++) await a.write(click('item:a')); // not uploaded: no upload since
    }
    const notUploaded = 30;
    const firstNotUploaded = a.wal.retained().get(SYNC_RETENTION)!;
    expect(a.wal.lastLsn - firstNotUploaded + 1).toBeGreaterThan(notUploaded); // imports sit between them
    expect(a.wal.segments().length).toBeGreaterThan(3);
    const removed = await a.wal.compact(Infinity);
    expect(removed.length).toBeGreaterThan(0); // what was uploaded goes
    expect(a.wal.firstLsn).toBeLessThanOrEqual(firstNotUploaded); // what was not stays
    let localLeft = 0;
    for await (const { event } of a.wal.read(firstNotUploaded)) if (asLogEvent(event).t === 'write') localLeft++;
    expect(localLeft).toBe(notUploaded);

    await a.sync.sync();
    await b.sync.sync();
    expect(b.leader.state.crdt.counterValue('item:a', 'click')).toBe(50);
    const late = await device(remote, keys);
    await late.sync.sync();
    expect(late.leader.state.crdt.counterValue('item:a', 'click')).toBe(50);
    expect(late.leader.state.crdt.counterValue('item:b', 'click')).toBe(30);
    expect(late.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());
  });

  it('a snapshot merge over the WAL batch bound is refused whole (PayloadTooLarge, docs/SYNC.md §9): nothing applied, no cursor moved, the other devices merge, the next round refuses it again', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const small = { maxChunkBytes: 2000, snapshotMinBytes: 4000 };
    // a's state: 100 fields of 300 bytes (~32 kB); its chunks (2 kB each) go up over 4 rounds, a snapshot in most of them,
    // so its manifest soon lists only the chunks after an older snapshot: a device joining must start from a snapshot.
    const a = await device(remote, keys, undefined, undefined, small);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) await a.write([{ op: 'set', key: `item:${round * 25 + i}`, field: 'body', value: 'x'.repeat(300) }]);
      await a.sync.sync();
    }
    const b = await device(remote, keys);
    await b.write([{ op: 'increment', key: 'item:b', kind: 'click', by: 2 }]);
    await b.sync.sync();

    // A device whose WAL takes batches of at most 16 kB of events: a's snapshot merges as ~32 kB of operations in one batch.
    const late = await device(remote, keys, undefined, undefined, small, undefined, 16_000);
    for (let round = 1; round <= 2; round++) {
      const { refused } = await late.sync.sync();
      expect(refused.map((r) => r.code)).toEqual(['PayloadTooLarge']);
      expect(late.sync.stats.refused['PayloadTooLarge']).toBe(round);
      expect(late.leader.state.syncCursors.has(a.id)).toBe(false);
      expect(late.leader.state.crdt.has('item:0')).toBe(false);
      expect(late.leader.state.crdt.has('item:99')).toBe(false);
      // b's stream is not held up by a's.
      expect(late.leader.state.crdt.counterValue('item:b', 'click')).toBe(2);
      expect(late.leader.state.syncCursors.get(b.id)).toBe(1);
      expect(late.wal.lastLsn).toBe(1); // b's import alone: nothing of a's merge reached the log
    }
    // A device with the default bound (16 MiB) merges the same snapshot.
    const other = await device(remote, keys, undefined, undefined, small);
    expect((await other.sync.sync()).refused).toEqual([]);
    expect(other.sync.stats.snapshotsMerged).toBe(1);
    await a.sync.sync(); // a merges b
    expect(other.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());
  });

  it("logs a snapshot's state the shard lacks most of as its own bytes (a state import), one it holds most of as import operations; a restart replays either to the same bytes", async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const a = await device(remote, keys);
    const log = new LeaderSyncLog(a.wal, a.leader);
    await a.write([{ op: 'increment', key: 'item:a', kind: 'click', by: 1 }]);
    const theirs = new CrdtSignalState();
    for (let i = 0; i < 20; i++)
      theirs.apply({ op: 'set', key: `item:${i}`, field: 'title', value: `t${i}`, hlc: 5n << 16n, replica: 'b.0' });
    theirs.apply({ op: 'increment', key: 'item:a', kind: 'click', by: 4, replica: 'b.0' });
    theirs.apply({ op: 'add', key: 'item:0', set: 'labels', member: 'tide', replica: 'b.0' });
    const expected = a.leader.state.crdt.clone();
    expected.merge(theirs);
    const from = randomDevice();
    const other = randomDevice();
    const bytes = theirs.encode();
    await log.mergeState(
      new Map([
        [from, 9],
        [other, 4],
      ]),
      CrdtSignalState.decode(bytes),
      bytes,
    );
    const logged: Value[] = [];
    for await (const { event } of a.wal.read(2)) logged.push(event);
    expect(logged.map((e) => (e as { t: string }).t)).toEqual(['import-state', 'import']);
    expect((logged[0] as { state: Uint8Array }).state).toEqual(bytes); // the snapshot's bytes, not encoded again
    expect(a.leader.state.crdt.encode()).toEqual(expected.encode());
    expect(a.leader.state.syncCursors).toEqual(
      new Map([
        [from, 9],
        [other, 4],
      ]),
    );
    expect(a.leader.state.crdt.fieldValue('item:3', 'title')).toBe('t3');
    // The clock followed the merged stamps: a local write orders after them.
    await a.write([{ op: 'set', key: 'item:3', field: 'title', value: 'mine' }]);
    expect(a.leader.state.crdt.fieldValue('item:3', 'title')).toBe('mine');

    // A state it holds most of: only what is missing goes to the log, as operations.
    const more = CrdtSignalState.decode(bytes);
    more.apply({ op: 'set', key: 'item:20', field: 'title', value: 't20', hlc: 6n << 16n, replica: 'b.0' });
    const moreBytes = more.encode();
    await log.mergeState(new Map([[from, 10]]), CrdtSignalState.decode(moreBytes), moreBytes);
    const last: Value[] = [];
    for await (const { lsn, event } of a.wal.read(1)) if (lsn === a.wal.lastLsn) last.push(event);
    expect(asLogEvent(last[0]!)).toMatchObject({ t: 'import', device: from, upTo: 10, ops: [{ op: 'set', key: 'item:20', value: 't20' }] });
    expect(a.leader.state.crdt.fieldValue('item:20', 'title')).toBe('t20');

    // An empty shard (a device joining) logs it as a state import, and holds the snapshot's state exactly.
    const c = await device(remote, keys);
    await new LeaderSyncLog(c.wal, c.leader).mergeState(new Map([[from, 10]]), CrdtSignalState.decode(moreBytes), moreBytes);
    const joined: Value[] = [];
    for await (const { event } of c.wal.read(1)) joined.push(event);
    expect(joined.map((e) => (e as { t: string }).t)).toEqual(['import-state']);
    expect(c.leader.state.crdt.encode()).toEqual(moreBytes);

    const state = a.leader.state.crdt.encode();
    await a.wal.close();
    const again = await device(remote, keys, a.storage, a.id);
    expect(again.leader.state.crdt.encode()).toEqual(state);
    expect(again.leader.state.syncCursors).toEqual(
      new Map([
        [from, 10],
        [other, 4],
      ]),
    );
  });

  it('logs a state import in place when given the buffer (the batch built around the state where it is, nothing of it copied), the same events as the copying path; replayed after a restart', async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const theirs = new CrdtSignalState();
    for (let i = 0; i < 50; i++)
      theirs.apply({ op: 'set', key: `item:${i}`, field: 'title', value: `t${i}`, hlc: 5n << 16n, replica: 'b.0' });
    const bytes = theirs.encode();
    const from = randomDevice();
    const given = (room: number, tail = 0) => {
      const buffer = new Uint8Array(room + bytes.length + tail).fill(0xee);
      buffer.set(bytes, room);
      return buffer.subarray(room, room + bytes.length);
    };
    const logOf = async (wal: Wal) => {
      const events: Value[] = [];
      for await (const { event } of wal.read(1)) events.push(event);
      return events;
    };

    const a = await device(remote, keys);
    const inPlace = vi.spyOn(a.wal, 'appendEncoded');
    const state = given(256);
    await new LeaderSyncLog(a.wal, a.leader).mergeState(new Map([[from, 7]]), CrdtSignalState.decode(state), state, true);
    expect(inPlace).toHaveBeenCalledOnce();
    const batch = inPlace.mock.calls[0]![0];
    expect(batch.buffer).toBe(state.buffer); // the state's own buffer...
    expect(batch.byteOffset + batch.byteLength).toBe(state.byteOffset + state.byteLength); // ...ending with the state itself
    expect(state).toEqual(bytes); // which the batch left as it was

    const b = await device(remote, keys);
    await new LeaderSyncLog(b.wal, b.leader).mergeState(new Map([[from, 7]]), CrdtSignalState.decode(bytes), bytes);
    const [logged, copied] = [await logOf(a.wal), await logOf(b.wal)];
    expect(logged.map((e) => (e as { t: string }).t)).toEqual(['import-state']);
    expect({ ...(logged[0] as object), at: 0 }).toEqual({ ...(copied[0] as object), at: 0 });
    expect(a.leader.state.crdt.encode()).toEqual(bytes);
    await a.wal.close();
    const again = await device(remote, keys, a.storage, a.id);
    expect(again.leader.state.crdt.encode()).toEqual(bytes);
    expect(again.leader.state.syncCursors).toEqual(new Map([[from, 7]]));

    // More cursors: their import events after the state, in place too with room there; without room in front or
    // after, logged by the copying path. The same events either way, replayed after a restart.
    const others = [randomDevice(), randomDevice()].sort();
    const cursors = new Map([
      [from, 7],
      [others[0]!, 3],
      [others[1]!, 4],
    ]);
    const events: Value[][] = [];
    for (const [room, tail, built] of [
      [256, 2048, true],
      [0, 2048, false],
      [256, 0, false],
    ] as const) {
      const c = await device(remote, keys);
      const encoded = vi.spyOn(c.wal, 'appendEncoded');
      const stateBytes = given(room, tail);
      await new LeaderSyncLog(c.wal, c.leader).mergeState(cursors, CrdtSignalState.decode(stateBytes), stateBytes, true);
      expect(encoded).toHaveBeenCalledTimes(built ? 1 : 0);
      expect(c.leader.state.crdt.encode()).toEqual(bytes);
      expect(c.leader.state.syncCursors).toEqual(cursors);
      events.push((await logOf(c.wal)).map((e) => ({ ...(e as object), at: 0 })));
      await c.wal.close();
      const reopened = await device(remote, keys, c.storage, c.id);
      expect(reopened.leader.state.crdt.encode()).toEqual(bytes);
      expect(reopened.leader.state.syncCursors).toEqual(cursors);
    }
    expect(events[0]!.map((e) => (e as { t: string }).t)).toEqual(['import-state', 'import', 'import']);
    expect(events[0]).toEqual(events[1]);
    expect(events[0]).toEqual(events[2]);
  });

  it("a joiner logs another device's snapshot of several parts in place, in the buffer the parts were opened into; the same state, after a restart too", async () => {
    const remote = new MemoryRemote();
    const keys = await userKeys();
    const options = { maxChunkBytes: 1000, snapshotMinBytes: 3000, snapshotPartBytes: 700 };
    const a = await device(remote, keys, undefined, undefined, options);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 20; i++)
        await a.write([{ op: 'set', key: `item:${round * 20 + i}`, field: 'title', value: `title ${round}/${i} `.repeat(4) }]);
      await a.write([{ op: 'increment', key: 'item:0', kind: 'click', by: 1 }]);
      await a.sync.sync();
    }
    const late = await device(remote, keys, undefined, undefined, options);
    const inPlace = vi.spyOn(late.wal, 'appendEncoded');
    const report = await late.sync.sync();
    expect(report.refused).toEqual([]);
    expect(late.sync.stats.snapshotsMerged).toBe(1);
    expect(inPlace).toHaveBeenCalledOnce();
    expect(late.leader.state.crdt.encode()).toEqual(a.leader.state.crdt.encode());
    expect(late.leader.state.crdt.counterValue('item:0', 'click')).toBe(6);
    const state = late.leader.state.crdt.encode();
    await late.wal.close();
    const again = await device(remote, keys, late.storage, late.id, options);
    expect(again.leader.state.crdt.encode()).toEqual(state);
    expect(again.leader.state.syncCursors.get(a.id)).toBe(a.wal.lastLsn);
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
