/**
 * A follower of a shard's log whose leader writes events of a newer format
 * than this build reads (a write event or operations block of a newer
 * version, a new kind of event, a state import of a newer state encoding),
 * in batches whose digests verify: version
 * skew, found before anything of the payload is stored or applied, not
 * halfway through applying it.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { TidalError } from '../common/errors.js';
import { settle } from '../common/testing/manual-clock.js';
import { FollowerDb } from '../replication/follower-db.js';
import { InProcessNetwork } from '../transport/in-process.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import type { Value } from '../wal/payload.js';
import { WalSegmentId } from '../wal/segment-id.js';
import { Wal } from '../wal/wal.js';
import { SessionWriter } from './session-writer.js';
import { ShardLeader } from './shard-leader.js';
import { ShardState } from './shard-state.js';
import { loggedStateImport } from './write.js';
import { CrdtSignalState } from '../crdt/signal-state.js';

const LEADER = { shard: 0, replica: 'leader' };
const FOLLOWER = { shard: 0, replica: 'follower' };

/** A leader's log: LSN 1 a real write, LSN 2 the event `newer` makes of it. Returns both batches' bytes, one after the other. */
async function logWith(newer: (written: Record<string, Value>) => Value): Promise<Uint8Array> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
  const leader = await ShardLeader.open({ wal, replica: 'leader' });
  const writer = new SessionWriter({ shard: 0, link: { write: (r) => leader.write(r) } });
  await writer.write([{ op: 'increment', key: 'k', kind: 'n', by: 1 }]);
  writer.close();
  let written: Record<string, Value> | undefined;
  for await (const { event } of wal.read(1)) written = event as Record<string, Value>;
  await wal.append([newer(written!)]);
  const parts: Uint8Array[] = [];
  for await (const batch of wal.readBatches(1)) parts.push(batch.bytes.slice());
  await wal.close();
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  return bytes;
}

async function follow() {
  const net = new InProcessNetwork();
  const leader = net.connect(LEADER);
  const storage = new MemoryStorage();
  const state = new ShardState();
  const skews: TidalError[] = [];
  const follower = await FollowerDb.open({
    storage,
    shard: 0,
    transport: net.connect(FOLLOWER),
    leader: LEADER,
    stateMachine: state,
    requestIntervalMs: 0,
    onVersionSkew: (error) => skews.push(error),
  });
  onTestFinished(async () => {
    await follower.close();
    leader.close();
  });
  const ship = async (bytes: Uint8Array) => {
    await leader.sendSegment(FOLLOWER, { id: new WalSegmentId(0, 0n), bytes: bytes.buffer as ArrayBuffer, eventCount: 2 });
    await settle();
  };
  /** The LSNs the follower's own log holds, reopened. */
  const stored = async () => {
    await follower.close();
    const { wal } = await Wal.open(storage, { shard: 0 });
    const lsns: number[] = [];
    for await (const { lsn } of wal.read(1)) lsns.push(lsn);
    await wal.close();
    return lsns;
  };
  return { follower, state, skews, ship, stored };
}

const NEWER: [string, (written: Record<string, Value>) => Value][] = [
  ['a write event of version 3', (written) => ({ ...written, v: 3 })],
  [
    'an operations block of version 9',
    (written) => {
      const ops = (written['ops'] as Uint8Array).slice();
      ops[0] = 9;
      return { ...written, ops };
    },
  ],
  ['a kind of event this build does not know', (written) => ({ ...written, t: 'retract' })],
  [
    'a state import of a state of version 9',
    () => {
      const state = otherDevicesState().encode();
      state[4] = 9; // the state's version byte, after its magic
      return loggedStateImport(DEVICE, 4, 0, state);
    },
  ],
];

const DEVICE = 'fedcba9876543210fedcba9876543210';

/** Another device's state: a count of its own on the leader's counter, and a field. */
function otherDevicesState(): CrdtSignalState {
  const state = new CrdtSignalState();
  state.apply({ op: 'increment', key: 'k', kind: 'n', by: 5, replica: 'other.0' });
  state.apply({ op: 'set', key: 'k', field: 'title', value: 'Tide tables', hlc: 1n << 20n, replica: 'other.0' });
  return state;
}

describe('FollowerDb over ShardState meeting a newer event format', () => {
  it.each(NEWER)('%s: VersionSkew before anything of the payload is stored or applied', async (_name, newer) => {
    const bytes = await logWith(newer);
    const { follower, state, skews, ship, stored } = await follow();
    await ship(bytes);
    expect(skews.map((e) => e.code)).toEqual(['VersionSkew']);
    expect(follower.failed?.code).toBe('VersionSkew');
    expect(follower.counters).toMatchObject({ payloadsRejected: 0, eventsApplied: 0 });
    // The write of LSN 1, in the same payload, was neither applied nor kept.
    expect(follower.appliedLsn).toBe(0);
    expect(state.crdt.counterValue('k', 'n')).toBe(0);
    expect(await stored()).toEqual([]);
  });

  it('the same log of this build is applied whole (the check refuses only newer formats)', async () => {
    const bytes = await logWith((written) => ({ ...written, seq: (written['seq'] as number) + 1 }));
    const { follower, state, skews, ship, stored } = await follow();
    await ship(bytes);
    expect(skews).toEqual([]);
    expect(follower.appliedLsn).toBe(2);
    expect(state.crdt.counterValue('k', 'n')).toBe(2);
    expect(await stored()).toEqual([1, 2]);
  });
});

describe('FollowerDb over ShardState applying a state import', () => {
  it("holds, byte for byte, the state its leader's merge made, with the cursor", async () => {
    const theirs = otherDevicesState();
    const bytes = await logWith(() => loggedStateImport(DEVICE, 4, 7, theirs.encode()));
    const { follower, state, skews, ship } = await follow();
    await ship(bytes);
    expect(skews).toEqual([]);
    expect(follower.appliedLsn).toBe(2);
    const leaders = new CrdtSignalState();
    leaders.apply({ op: 'increment', key: 'k', kind: 'n', by: 1, replica: 'leader' });
    leaders.merge(theirs);
    expect(state.crdt.encode()).toEqual(leaders.encode());
    expect(state.crdt.counterValue('k', 'n')).toBe(6);
    expect(state.syncCursors.get(DEVICE)).toBe(4);
  });
});

describe('FollowerDb over ShardState meeting a malformed event of this format', () => {
  it('refuses the payload whole (its digests verify): nothing of it stored or applied, and asks again', async () => {
    // A write event of this version whose session id is not one: it does not read (asLogEvent), whatever its digest says.
    const bytes = await logWith((written) => ({ ...written, session: 'not a session' }));
    const { follower, state, skews, ship, stored } = await follow();
    await ship(bytes);
    expect(skews).toEqual([]);
    expect(follower.failed).toBeUndefined(); // still following: a good copy may come
    expect(follower.counters).toMatchObject({ payloadsRejected: 1, eventsApplied: 0, requests: 2 }); // hello, then rejected
    // The good write of LSN 1, in the same payload, was neither applied nor kept.
    expect(follower.appliedLsn).toBe(0);
    expect(state.crdt.counterValue('k', 'n')).toBe(0);
    expect(await stored()).toEqual([]);
  });
});
