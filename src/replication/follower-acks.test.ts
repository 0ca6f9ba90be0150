/**
 * What a follower tells its leader, and what it keeps: payloads applied
 * close together are acknowledged once, by the last LSN (an acknowledgement
 * covers every LSN up to it), sooner once enough bytes wait; a duplicate is
 * acknowledged at once. A follower opened without storage applies the same
 * log and keeps no copy of it (it cannot be promoted).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock, settle } from '../common/testing/manual-clock.js';
import { InProcessNetwork } from '../transport/index.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import type { CommittedBatch } from '../wal/wal.js';
import { Wal } from '../wal/wal.js';
import { FollowerDb } from './follower-db.js';
import type { FollowerDbOptions } from './follower-options.js';
import { decodeControl, type ControlMessageBody } from './messages.js';
import { EventLog } from './state-machine.js';

const LEADER = { shard: 1, replica: 'leader' };
const FOLLOWER = { shard: 1, replica: 'follower' };

/** `count` batches of shard 1's log, one event each, as the leader's WAL committed them. */
async function batches(count: number): Promise<CommittedBatch[]> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 1 });
  const committed: CommittedBatch[] = [];
  wal.onCommit((batch) => committed.push({ ...batch, bytes: batch.bytes.slice() }));
  for (let i = 0; i < count; i++) await wal.append([{ op: 'increment', key: `item-${i}`, by: 1 }]);
  await wal.close();
  return committed;
}

/** A follower on a manual clock, and its leader's end of the link, whose control messages are collected. */
async function open(options: Partial<FollowerDbOptions> = {}) {
  const net = new InProcessNetwork();
  const leader = net.connect(LEADER);
  const clock = new ManualClock();
  const stateMachine = new EventLog();
  const follower = await FollowerDb.open({
    shard: 1,
    transport: net.connect(FOLLOWER),
    leader: LEADER,
    stateMachine,
    clock,
    ...options,
  });
  const control: ControlMessageBody[] = [];
  void (async () => {
    for (let m; (m = await leader.recvControl()) !== null;) control.push(decodeControl(m.bytes));
  })();
  onTestFinished(async () => {
    await follower.close();
    leader.close();
  });
  const ship = async (batch: CommittedBatch) => {
    await leader.sendSegment(FOLLOWER, { id: batch.segment, bytes: batch.bytes.slice().buffer, eventCount: 1 });
  };
  const acks = async () => {
    await settle();
    return control.filter((m) => m.type === 'ack').map((m) => (m.type === 'ack' ? m.appliedLsn : 0));
  };
  return { follower, clock, ship, acks, stateMachine };
}

describe('FollowerDb acknowledgements', () => {
  it('acknowledges payloads applied within ackDelayMs once, by the last LSN', async () => {
    const log = await batches(5);
    const { follower, clock, ship, acks } = await open({ ackDelayMs: 25 });
    for (const batch of log) await ship(batch);
    await settle();
    expect(follower.appliedLsn).toBe(5);
    expect(await acks()).toEqual([]);
    await clock.advance(24);
    expect(await acks()).toEqual([]);
    await clock.advance(1);
    expect(await acks()).toEqual([5]);
    expect(follower.counters).toMatchObject({ payloadsApplied: 5, acks: 1 });
  });

  it('acknowledges at once when ackBytes wait, and a duplicate at once', async () => {
    const log = await batches(3);
    const { follower, ship, acks } = await open({ ackDelayMs: 1000, ackBytes: log[0]!.bytes.length * 2 });
    await ship(log[0]!);
    expect(await acks()).toEqual([]);
    await ship(log[1]!);
    expect(await acks()).toEqual([2]); // two payloads' bytes reached ackBytes
    await ship(log[0]!);
    expect(await acks()).toEqual([2, 2]); // a resend: the leader learns at once that it is here
    expect(follower.counters).toMatchObject({ duplicates: 1, acks: 2 });
  });
});

describe('FollowerDb without storage', () => {
  it('applies the log like a follower with a copy, keeps none, and cannot be promoted', async () => {
    const log = await batches(4);
    const { follower, ship, stateMachine } = await open();
    for (const batch of log) await ship(batch);
    await follower.whenApplied(4);
    expect(stateMachine.entries.map((e) => e.lsn)).toEqual([1, 2, 3, 4]);
    expect(follower.recovery.lastLsn).toBe(0);
    await expect(follower.promote()).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(follower.appliedLsn).toBe(4); // still following
  });
});
