import { describe, expect, it, onTestFinished } from 'vitest';
import { systemClock } from '../common/clock.js';
import { mulberry32 } from '../common/random.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { FollowerDb } from '../replication/follower-db.js';
import { WalShipper } from '../replication/wal-shipper.js';
import { InProcessNetwork } from '../transport/in-process.js';
import { MemoryStorage } from '../wal/memory-storage.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal } from '../wal/wal.js';
import { waitForToken } from './read.js';
import { SessionWriter, type SessionLink } from './session-writer.js';
import { ShardLeader } from './shard-leader.js';
import { ShardState } from './shard-state.js';
import { asWriteEvent, type WriteRequest, type WriteToken } from './write.js';

const prng = mulberry32;

const lost = () => new TidalError('Closed', 'link lost');
/**
 * The storage as one incarnation of a worker sees it: once that worker
 * "dies" it is fenced, so nothing it still had in progress can touch the
 * files again (in a browser a terminated worker runs no more code).
 */
class Incarnation implements WalStorage {
  fenced = false;
  readonly description = 'memory (one worker incarnation)';
  private readonly storage: MemoryStorage;
  constructor(storage: MemoryStorage) {
    this.storage = storage;
  }
  private check(): void {
    if (this.fenced) throw new TidalError('StorageError', 'this worker is dead');
  }
  async list() {
    this.check();
    return this.storage.list();
  }
  async open(name: string, options?: { create?: boolean }) {
    this.check();
    return this.storage.open(name, options);
  }
  async rename(from: string, to: string) {
    this.check();
    return this.storage.rename(from, to);
  }
  async remove(name: string) {
    this.check();
    return this.storage.remove(name);
  }
}

/** One shard's leader on a storage that can crash; restarted (recovered from storage) on demand, like a worker. */
class CrashingShard {
  readonly storage = new MemoryStorage();
  leader: ShardLeader | undefined;
  restarts = 0;
  private incarnation = new Incarnation(this.storage);
  private starting: Promise<ShardLeader> | undefined;

  async current(): Promise<ShardLeader> {
    if (this.leader) return this.leader;
    if (!this.starting) {
      const incarnation = this.incarnation;
      const start = (async () => {
        const { wal } = await Wal.open(incarnation, { shard: 0 });
        const leader = await ShardLeader.open({ wal, replica: `leader-${this.restarts++}` });
        if (incarnation.fenced) throw lost(); // crashed while starting
        this.leader = leader;
        return leader;
      })();
      this.starting = start;
      const done = () => {
        if (this.starting === start) this.starting = undefined;
      };
      start.then(done, done);
    }
    return this.starting!;
  }

  /** Kills the worker: everything not flushed is lost, and nothing it was doing goes on. */
  crash(): void {
    this.incarnation.fenced = true;
    this.storage.crash();
    this.incarnation = new Incarnation(this.storage);
    this.leader = undefined;
    this.starting = undefined;
  }
}

type Step = 'ok' | 'lose-request' | 'crash-before-append' | 'crash-after-append' | 'crash-after-ack' | 'lose-ack' | 'duplicate';

/** A link that injects, per request, a failure at one step of the write path; `seen` counts the requests that met each step. */
function faultyLink(shard: CrashingShard, random: () => number): { link: SessionLink; seen: Record<Step, number> } {
  const seen: Record<Step, number> = {
    ok: 0,
    'lose-request': 0,
    'crash-before-append': 0,
    'crash-after-append': 0,
    'crash-after-ack': 0,
    'lose-ack': 0,
    duplicate: 0,
  };
  const steps: [Step, number][] = [
    ['lose-request', 0.08],
    ['crash-before-append', 0.03],
    ['crash-after-append', 0.03],
    ['crash-after-ack', 0.03],
    ['lose-ack', 0.08],
    ['duplicate', 0.08],
  ];
  const link: SessionLink = {
    async write(request: WriteRequest): Promise<WriteToken> {
      const leader = await shard.current();
      let roll = random();
      let step: Step = 'ok';
      for (const [name, p] of steps) {
        if (roll < p) {
          step = name;
          break;
        }
        roll -= p;
      }
      seen[step]++;
      switch (step) {
        case 'ok':
          return leader.write(request);
        case 'lose-request':
          throw lost();
        case 'crash-before-append':
          shard.crash();
          throw lost();
        case 'crash-after-append': {
          const pending = leader.write(request); // appended, not yet committed or flushed
          shard.crash();
          await pending.catch(() => undefined);
          throw lost();
        }
        case 'crash-after-ack':
          await leader.write(request); // durable and acknowledged by the leader...
          shard.crash(); // ...which dies before the ack reaches the writer
          throw lost();
        case 'lose-ack':
          await leader.write(request);
          throw lost();
        case 'duplicate': {
          const [a, b] = await Promise.all([leader.write(request), leader.write(request)]);
          expect(b).toEqual(a);
          return a;
        }
      }
    },
  };
  return { link, seen };
}

async function replay(storage: MemoryStorage): Promise<{ state: ShardState; wal: Wal }> {
  const { wal } = await Wal.open(storage, { shard: 0 });
  const state = new ShardState();
  for await (const { lsn, event } of wal.read(1)) state.apply(lsn, event);
  return { state, wal };
}

async function eventAt(wal: Wal, lsn: number) {
  for await (const { event } of wal.read(lsn)) return asWriteEvent(event);
  throw new Error(`no event at LSN ${lsn}`);
}

describe('exactly-once writes through the session bridge', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`applies every write exactly once under crashes at every step, lost and duplicated messages (seed ${seed})`, async () => {
      const random = prng(seed);
      const shard = new CrashingShard();
      const { link, seen } = faultyLink(shard, random);
      const writers = Array.from({ length: 4 }, () => new SessionWriter({ shard: 0, link, retryDelayMs: 1, maxRetryDelayMs: 5 }));
      onTestFinished(() => writers.forEach((w) => w.close()));
      const acknowledged: { writer: number; seq: number; token: WriteToken }[] = [];
      await Promise.all(
        writers.map(async (writer, w) => {
          const writes = [];
          for (let i = 0; i < 120; i++) {
            const ops = [
              { op: 'increment' as const, key: `writer:${w}`, kind: 'writes', by: 1 },
              { op: 'increment' as const, key: 'all', kind: 'writes', by: 1 },
            ];
            const seq = i + 1;
            writes.push(
              writer
                .write(ops, i % 3 === 0 ? { idempotencyKey: `w${w}-${i}` } : {})
                .then((token) => acknowledged.push({ writer: w, seq, token })),
            );
            if (i % 10 === 9) await Promise.all(writes.splice(0)); // bursts of pipelined writes
          }
          await Promise.all(writes);
        }),
      );
      for (const step of Object.keys(seen) as Step[]) expect(seen[step], `step ${step} exercised (seed ${seed})`).toBeGreaterThan(0);

      // Recover the shard from storage, as a restarted worker would, and count.
      shard.crash();
      const { state, wal } = await replay(shard.storage);
      expect(state.crdt.counterValue('all', 'writes'), `seed ${seed}`).toBe(480);
      for (let w = 0; w < 4; w++) expect(state.crdt.counterValue(`writer:${w}`, 'writes'), `seed ${seed}`).toBe(120);
      // Every acknowledged write is in the log, at the LSN its token names.
      expect(acknowledged).toHaveLength(480);
      for (const { writer, seq, token } of acknowledged) {
        const event = await eventAt(wal, token.lsn);
        expect([event.session, event.seq]).toEqual([writers[writer]!.id, seq]);
      }
      expect(shard.restarts).toBeGreaterThan(2);
      await wal.close();
    });
  }

  it('refuses to lead with a replica id that followers would refuse, before touching the log', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    for (const replica of ['', 'tab-a/shard-3', 'x'.repeat(65), 'tab a']) {
      await expect(ShardLeader.open({ wal, replica })).rejects.toMatchObject({ code: 'InvalidArgument' });
    }
    expect(wal.lastLsn).toBe(0);
    const leader = await ShardLeader.open({ wal, replica: 'tab-a.3' });
    expect(
      await leader.write({
        session: '0'.repeat(32),
        startedAt: Date.now(),
        seq: 1,
        acked: 0,
        ops: [{ op: 'increment', key: 'k', kind: 'n', by: 1 }],
      }),
    ).toEqual({ shard: 0, lsn: 1 });
  });

  it('refuses a value the log cannot hold before numbering it, so later writes are not held behind it', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const seen: number[] = [];
    const writer = new SessionWriter({ shard: 0, link: { write: (r) => (seen.push(r.seq), leader.write(r)) } });
    await expect(writer.write([{ op: 'set', key: 'k', field: 'f', value: (() => 1) as never }])).rejects.toMatchObject({
      code: 'Unencodable',
    });
    await expect(writer.write([{ op: 'add', key: 'k', set: 's', member: [1, undefined] as never }])).rejects.toMatchObject({
      code: 'Unencodable',
    });
    await expect(writer.write([{ op: 'increment', key: 'k', kind: 'n', by: 0 }])).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await writer.write([{ op: 'set', key: 'k', field: 'f', value: { ok: [1n, 'é'] } }])).toEqual({ shard: 0, lsn: 1 });
    expect(seen).toEqual([1]);
  });

  it('admits a tick of writes as one batch, each checked on its own', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const s = (n: number) => n.toString(16).padStart(32, '0');
    const op = (by: number) => [{ op: 'increment' as const, key: 'k', kind: 'n', by }];
    const req = (session: number, seq: number, ops: WriteRequest['ops'] = op(1)): WriteRequest => ({
      session: s(session),
      startedAt: Date.now(),
      seq,
      acked: 0,
      ops,
    });
    const outcomes = await leader.writeBatch([
      req(1, 1),
      req(2, 1, op(10)),
      req(1, 1), // the same write twice in one tick
      req(1, 3), // skips seq 2
      req(3, 1, [{ op: 'set', key: 'k', field: 'f', value: (() => 1) as never }]), // a writer that skipped its own check
      req(1, 2, op(100)),
    ]);
    expect(outcomes.map((o) => (o.ok ? o.token.lsn : (o.error as { code: string }).code))).toEqual([1, 2, 1, 'SeqGap', 'Unencodable', 3]);
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(111);
    const again = await leader.writeBatch([req(3, 1, op(1000))]);
    expect(again[0]).toEqual({ ok: true, token: { shard: 0, lsn: 4 } }); // session 3's seq 1 was not spent by the bad value
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(1111);
  });

  it('refuses with Overflow, before acknowledging, a counter step that would pass 2^53-1, counting steps still on their way to the log', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const s = (n: number) => n.toString(16).padStart(32, '0');
    const step = (op: 'increment' | 'decrement', by: number) => [{ op, key: 'n1', kind: 'c', by }];
    const req = (session: number, seq: number, ops: WriteRequest['ops']): WriteRequest => ({
      session: s(session),
      startedAt: Date.now(),
      seq,
      acked: 0,
      ops,
    });
    const code = (o: { ok: boolean; error?: unknown }) => (o.ok ? 'ok' : (o.error as { code: string }).code);
    // The case: 2^52 twice. In one tick, and in two ticks still in flight together.
    const tick = await leader.writeBatch([req(1, 1, step('increment', 2 ** 52)), req(2, 1, step('increment', 2 ** 52))]);
    expect(tick.map(code)).toEqual(['ok', 'Overflow']);
    const [first, second] = await Promise.all([
      leader.writeBatch([req(3, 1, step('increment', 2 ** 52 - 2))]),
      leader.writeBatch([req(4, 1, step('increment', 2))]),
    ]);
    expect([code(first[0]!), code(second[0]!)]).toEqual(['ok', 'Overflow']);
    expect(leader.state.crdt.counterValue('n1', 'c')).toBe(2 ** 53 - 2);
    // Two steps of one write are checked together, and a refused write changes nothing.
    const both = await leader.writeBatch([req(5, 1, [...step('decrement', 1), ...step('increment', 2)])]);
    expect(both.map(code)).toEqual(['Overflow']);
    const ok = await leader.writeBatch([req(5, 1, step('increment', 1)), req(6, 1, step('decrement', 2 ** 52))]);
    expect(ok.map(code)).toEqual(['ok', 'ok']);
    expect(leader.state.crdt.counterValue('n1', 'c')).toBe(2 ** 53 - 1 - 2 ** 52);
    expect(leader.state.refusedOps).toBe(0); // nothing acknowledged was refused when applied
    await wal.close();
    // After a restart, the log replays to the same value.
    const { wal: again } = await Wal.open(storage, { shard: 0 });
    const recovered = await ShardLeader.open({ wal: again, replica: 'l2' });
    expect(recovered.state.crdt.counterValue('n1', 'c')).toBe(2 ** 53 - 1 - 2 ** 52);
    expect(recovered.state.refusedOps).toBe(0);
    // The recovered leader counts what its state holds: one step more than the value has room for is refused.
    const past = await recovered.writeBatch([req(9, 1, step('increment', 2 ** 52 + 1)), req(10, 1, step('increment', 2 ** 52))]);
    expect(past.map(code)).toEqual(['Overflow', 'ok']);
    expect(recovered.state.crdt.counterValue('n1', 'c')).toBe(2 ** 53 - 1);
    await again.close();
  });

  it('refuses a merge that names a malformed device or cursor before anything reaches the log', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const ops = [{ op: 'increment' as const, key: 'k', kind: 'c', by: 1, replica: 'b.0', hlc: 1n }];
    await expect(leader.merge('device-b', 7, ops)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(leader.merge('b'.repeat(32), 0, ops)).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(wal.lastLsn).toBe(0);
    await leader.merge('b'.repeat(32), 7, ops);
    await wal.close();
    // The log reads back whole: a leader opens over it.
    const { wal: again } = await Wal.open(storage, { shard: 0 });
    const reopened = await ShardLeader.open({ wal: again, replica: 'l' });
    expect(reopened.state.crdt.counterValue('k', 'c')).toBe(1);
    await again.close();
  });

  it('moves its clock past every merged stamp within the drift bound, not to one too far ahead', async () => {
    const wall = 1_000_000_000;
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l', clock: { ...systemClock, now: () => wall } });
    const stamp = (ms: number) => BigInt(ms) << 16n;
    const near = stamp(wall + 30_000); // 30 s ahead: within the 60 s bound
    const far = stamp(wall + 120_000); // 2 min ahead: refused, merged as stamped
    const set = (field: string, hlc: bigint) => ({ op: 'set' as const, key: 'k', field, value: field, hlc, replica: 'b.0' });
    const local = async (seq: number, field: string) => {
      const session = 'a'.repeat(32);
      await leader.write({ session, startedAt: wall, seq, acked: seq - 1, ops: [{ op: 'set', key: 'k', field, value: seq }] });
      return leader.state.crdt.field('k', field)!.hlc;
    };
    await leader.merge('b'.repeat(32), 2, [set('near', near), set('far', far), set('old', stamp(wall - 5_000))]);
    const first = await local(1, 'x');
    expect(first > near).toBe(true);
    expect(first < far).toBe(true);
    // The newest stamp within the bound is the one followed, whichever operation carries it.
    await leader.merge('b'.repeat(32), 3, [set('near2', near + stamp(1_000))]);
    expect((await local(2, 'y')) > near + stamp(1_000)).toBe(true);
    expect(leader.state.crdt.fieldValue('k', 'far')).toBe('far'); // merged, as stamped
    await wal.close();
  });

  it('counts the steps merged from other devices before it admits a local step on the same counter', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const code = (o: { ok: boolean; error?: unknown }) => (o.ok ? 'ok' : (o.error as { code: string }).code);
    const req = (session: number, by: number): WriteRequest => ({
      session: session.toString(16).padStart(32, '0'),
      startedAt: Date.now(),
      seq: 1,
      acked: 0,
      ops: [{ op: 'increment', key: 'k', kind: 'c', by }],
    });
    expect((await leader.writeBatch([req(1, 1)])).map(code)).toEqual(['ok']); // the leader has checked a step before the merge
    await leader.merge('b'.repeat(32), 7, [{ op: 'increment', key: 'k', kind: 'c', by: 2 ** 53 - 3, replica: 'b.0', hlc: 1n }]);
    const outcomes = await leader.writeBatch([req(2, 2), req(3, 1)]);
    expect(outcomes.map(code)).toEqual(['Overflow', 'ok']);
    expect(leader.state.crdt.counterValue('k', 'c')).toBe(2 ** 53 - 1);
    expect(leader.state.refusedOps).toBe(0);
    await wal.close();
  });

  it('near 2^53-1 counts only the steps pending on the same counter, whatever other counters have in flight', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const s = (n: number) => n.toString(16).padStart(32, '0');
    const req = (session: number, ops: WriteRequest['ops']): WriteRequest => ({
      session: s(session),
      startedAt: Date.now(),
      seq: 1,
      acked: 0,
      ops,
    });
    const inc = (key: string, by: number) => ({ op: 'increment' as const, key, kind: 'c', by });
    const dec = (key: string, by: number) => ({ op: 'decrement' as const, key, kind: 'c', by });
    const code = (o: { ok: boolean; error?: unknown }) => (o.ok ? 'ok' : (o.error as { code: string }).code);
    expect((await leader.writeBatch([req(1, [inc('near', 2 ** 53 - 12)])])).map(code)).toEqual(['ok']);
    // In flight together: big steps on other counters, then steps on `near` that fit by themselves (5 + 6 = 11) and one that does not.
    const outcomes = await Promise.all([
      leader.writeBatch([req(2, [inc('far', 2 ** 52), dec('other', 2 ** 52)])]),
      leader.writeBatch([req(3, [inc('near', 5)])]),
      leader.writeBatch([req(4, [inc('far', 1), inc('near', 6)])]),
      leader.writeBatch([req(5, [inc('near', 1)])]),
    ]);
    expect(outcomes.map((o) => code(o[0]!))).toEqual(['ok', 'ok', 'ok', 'Overflow']);
    expect(leader.state.crdt.counterValue('near', 'c')).toBe(2 ** 53 - 1);
    expect(leader.state.crdt.counterValue('far', 'c')).toBe(2 ** 52 + 1);
    // Nothing pending any more: steps elsewhere go through, and `near`'s increments are full (a replica's total only grows).
    const after = await leader.writeBatch([req(6, [dec('near', 1)]), req(7, [inc('far', 3)]), req(8, [inc('near', 1)])]);
    expect(after.map(code)).toEqual(['ok', 'ok', 'Overflow']);
    expect(leader.state.crdt.counterValue('near', 'c')).toBe(2 ** 53 - 2);
    expect(leader.state.refusedOps).toBe(0);
    await wal.close();
  });

  it('refuses before numbering: values past MAX_VALUE_BYTES, fields an operation does not take, ill-formed idempotency keys', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const seen: number[] = [];
    const writer = new SessionWriter({ shard: 0, link: { write: (r) => (seen.push(r.seq), leader.write(r)) } });
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    expect(await refused(writer.write([{ op: 'set', key: 'k', field: 'f', value: new Uint8Array(1 << 20) }]))).toBe('PayloadTooLarge');
    expect(await refused(writer.write([{ op: 'set', key: 'k', field: 'f', value: 1, extra: () => 1 } as never]))).toBe('InvalidArgument');
    expect(await refused(writer.write([{ op: 'increment', key: 'k', kind: 'n', by: 1 }], { idempotencyKey: 'a\ud800' }))).toBe(
      'Unencodable',
    );
    expect(await refused(writer.write([{ op: 'add', key: 'k\udc00', set: 's', member: 1 }]))).toBe('Unencodable');
    expect(await refused(writer.write([{ op: 'set', key: 'k', field: 'f', value: [NaN, -0, Infinity, '\uFEFF'] }]))).toBe('ok');
    expect(seen).toEqual([1]);
    const held = leader.state.crdt.fieldValue('k', 'f') as number[];
    expect([Number.isNaN(held[0]), Object.is(held[1], -0), held[2], held[3]]).toEqual([true, true, Infinity, '\uFEFF']);
    await wal.close();
  });

  it('a retry from a reloaded page (a new session) with the same idempotency key is not applied twice', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const link = { write: (r: WriteRequest) => leader.write(r) };
    const op = [{ op: 'increment' as const, key: 'form', kind: 'submits', by: 1 }];
    const first = await new SessionWriter({ shard: 0, link }).write(op, { idempotencyKey: 'order-42' });
    const retry = await new SessionWriter({ shard: 0, link }).write(op, { idempotencyKey: 'order-42' });
    expect(retry).toEqual(first);
    expect(leader.state.crdt.counterValue('form', 'submits')).toBe(1);
  });

  it('a session that sends one idempotency key twice (at once, or later) keeps writing, across a failover too', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0 });
    let leader = await ShardLeader.open({ wal, replica: 'l' });
    const link = { write: (r: WriteRequest) => leader.write(r) };
    const writer = new SessionWriter({ shard: 0, link, retryDelayMs: 1, maxRetryDelayMs: 2 });
    onTestFinished(() => writer.close());
    const op = [{ op: 'increment' as const, key: 'k', kind: 'n', by: 1 }];
    const [first, twin] = await Promise.all([writer.write(op, { idempotencyKey: 'a' }), writer.write(op, { idempotencyKey: 'a' })]);
    expect(twin).toEqual(first);
    expect(await writer.write(op, { idempotencyKey: 'a' })).toEqual(first); // later, in the same session
    const within = (written: Promise<WriteToken>) =>
      Promise.race([written, new Promise((_, reject) => setTimeout(() => reject(new Error('the write was held back')), 2000))]);
    // The session's later writes are not held behind the SeqNos its repeats took.
    await within(writer.write(op));
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(2);
    // A new leader, recovered from the log, knows those SeqNos were taken.
    await wal.close();
    const reopened = await Wal.open(storage, { shard: 0 });
    leader = await ShardLeader.open({ wal: reopened.wal, replica: 'l2' });
    await within(writer.write(op));
    expect(await writer.write(op, { idempotencyKey: 'a' })).toEqual(first);
    await within(writer.write(op));
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(4);
    await reopened.wal.close();
  });

  it('a batch whose append fails fails a write and its repeat of the same key, and leaves no promise rejected unhandled', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    onTestFinished(() => void process.off('unhandledRejection', onUnhandled));
    await wal.close(); // every append fails from now on
    const op = [{ op: 'increment' as const, key: 'k', kind: 'n', by: 1 }];
    const request = (seq: number): WriteRequest => ({
      session: 'ab'.repeat(16),
      startedAt: Date.now(),
      seq,
      acked: 0,
      ops: op,
      idempotencyKey: 'twice',
    });
    // The second repeats the first's key in the same tick: its outcome would be the first's token.
    const outcomes = await leader.writeBatch([request(1), request(2)]);
    expect(outcomes.map((o) => o.ok)).toEqual([false, false]);
    await new Promise((resolve) => setTimeout(resolve, 20)); // unhandled rejections are reported after a macrotask
    expect(unhandled).toEqual([]);
  });

  it('refuses a late duplicate from an expired session, and the writer moves keyed writes to a new session', async () => {
    let now = 1_000_000;
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l', clock: { ...systemClock, now: () => now }, sessionIdleMs: 1000 });
    let deliver = true;
    const link = { write: (r: WriteRequest) => (deliver ? leader.write(r) : Promise.reject(lost())) };
    const writer = new SessionWriter({ shard: 0, link, clock: { ...systemClock, now: () => now }, retryDelayMs: 1, maxRetryDelayMs: 2 });
    onTestFinished(() => writer.close());
    const op = [{ op: 'increment' as const, key: 'k', kind: 'n', by: 1 }];
    await writer.write(op);
    const oldSession = writer.id;
    const lateRequest: WriteRequest = { session: oldSession, startedAt: 1_000_000, seq: 1, acked: 0, ops: op };
    now += 5000; // the session idles past its expiry
    deliver = false;
    const keyed = writer.write(op, { idempotencyKey: 'k-2' });
    const unkeyed = writer.write(op);
    await new Promise((resolve) => setTimeout(resolve, 5));
    deliver = true;
    writer.resend();
    await expect(unkeyed).rejects.toMatchObject({ code: 'SessionExpired' });
    await expect(keyed).resolves.toMatchObject({ shard: 0 });
    expect(writer.id).not.toBe(oldSession);
    try {
      await leader.write(lateRequest);
      expect.unreachable();
    } catch (error) {
      expect(isTidalError(error, 'SessionExpired')).toBe(true);
    }
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(2); // the first write and the keyed one; nothing else
  });
});

describe('merged writes (a tick of writes without an idempotency key as one write)', () => {
  it('sends a tick of writes as one write and one WAL event, in call order; a keyed write keeps its own', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const sent: WriteRequest[] = [];
    const writer = new SessionWriter({ shard: 0, link: { write: (r) => (sent.push(r), leader.write(r)) }, merge: true });
    onTestFinished(() => writer.close());
    const tokens: Promise<WriteToken>[] = [];
    for (let i = 0; i < 300; i++) tokens.push(writer.write([{ op: 'set', key: 'k', field: 'last', value: i }]));
    tokens.push(writer.write([{ op: 'increment', key: 'k', kind: 'n', by: 1 }], { idempotencyKey: 'once' }));
    for (let i = 300; i < 310; i++) tokens.push(writer.write([{ op: 'set', key: 'k', field: 'last', value: i }]));
    const acknowledged = await Promise.all(tokens);
    expect(sent.map((r) => [r.seq, r.ops.length, r.idempotencyKey])).toEqual([
      [1, 300, undefined],
      [2, 1, 'once'],
      [3, 10, undefined],
    ]);
    expect(new Set(acknowledged.slice(0, 300).map((t) => t.lsn))).toEqual(new Set([1]));
    expect(acknowledged[300]!.lsn).toBe(2);
    expect(acknowledged[301]!.lsn).toBe(3);
    expect(wal.lastLsn).toBe(3);
    expect(leader.state.crdt.fieldValue('k', 'last')).toBe(309); // later calls win, as unmerged
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(1);
    await wal.close();
  });

  it('when the leader refuses a merged write, sends its parts one by one: only the refused part fails', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const refuse = (r: WriteRequest) => r.ops.some((op) => op.key === 'refused');
    const link: SessionLink = {
      write: (r) => (refuse(r) ? Promise.reject(new TidalError('InvalidArgument', 'refused by the test leader')) : leader.write(r)),
    };
    const writer = new SessionWriter({ shard: 0, link, merge: true, retryDelayMs: 1, maxRetryDelayMs: 2 });
    onTestFinished(() => writer.close());
    const outcome = (p: Promise<WriteToken>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isTidalError(e) ? e.code : 'thrown'),
      );
    const results = await Promise.all([
      outcome(writer.write([{ op: 'increment', key: 'a', kind: 'n', by: 1 }])),
      outcome(writer.write([{ op: 'increment', key: 'refused', kind: 'n', by: 1 }])),
      outcome(writer.write([{ op: 'increment', key: 'b', kind: 'n', by: 1 }])),
    ]);
    expect(results).toEqual(['ok', 'InvalidArgument', 'ok']);
    expect([leader.state.crdt.counterValue('a', 'n'), leader.state.crdt.counterValue('b', 'n')]).toEqual([1, 1]);
    expect(leader.state.crdt.has('refused')).toBe(false);
    expect(writer.unacknowledged).toBe(0);
    await wal.close();
  });

  it('merges writeOne calls with the tick, keeps a keyed one apart, and sends a refused merge one by one', async () => {
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const sent: WriteRequest[] = [];
    const refuse = (r: WriteRequest) => r.ops.some((op) => op.key === 'refused');
    const link: SessionLink = {
      write: (r) => {
        sent.push(r);
        return refuse(r) ? Promise.reject(new TidalError('InvalidArgument', 'refused by the test leader')) : leader.write(r);
      },
    };
    const writer = new SessionWriter({ shard: 0, link, merge: true, retryDelayMs: 1, maxRetryDelayMs: 2 });
    onTestFinished(() => writer.close());
    const outcome = (p: Promise<WriteToken>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isTidalError(e) ? e.code : 'thrown'),
      );
    const one = (key: string, idempotencyKey?: string) => writer.writeOne({ op: 'increment', key, kind: 'n', by: 1 }, 64, idempotencyKey);
    const results = await Promise.all([
      outcome(one('a')),
      outcome(writer.write([{ op: 'increment', key: 'b', kind: 'n', by: 1 }])),
      outcome(one('refused')),
      outcome(one('c', 'keyed')),
      outcome(one('d')),
    ]);
    expect(results).toEqual(['ok', 'ok', 'InvalidArgument', 'ok', 'ok']);
    // The tick: a, b and refused merged (then refused, sent again one by one), the keyed one alone, then d.
    expect(sent.slice(0, 3).map((r) => [r.ops.map((op) => op.key), r.idempotencyKey])).toEqual([
      [['a', 'b', 'refused'], undefined],
      [['c'], 'keyed'],
      [['d'], undefined],
    ]);
    for (const key of ['a', 'b', 'c', 'd']) expect(leader.state.crdt.counterValue(key, 'n'), key).toBe(1);
    expect(leader.state.crdt.has('refused')).toBe(false);
    expect(writer.unacknowledged).toBe(0);
    await wal.close();
  });

  for (const seed of [1, 2]) {
    it(`merged writes are applied exactly once under crashes at every step, lost and duplicated messages (seed ${seed})`, async () => {
      const random = prng(seed);
      const shard = new CrashingShard();
      const { link, seen } = faultyLink(shard, random);
      const writer = new SessionWriter({
        shard: 0,
        link,
        merge: true,
        retryDelayMs: 1,
        maxRetryDelayMs: 5,
      });
      onTestFinished(() => writer.close());
      let acknowledged = 0;
      for (let tick = 0; tick < 60; tick++) {
        const writes = [];
        for (let i = 0; i < 10; i++)
          writes.push(writer.write([{ op: 'increment', key: `k${i}`, kind: 'n', by: 1 }]).then(() => acknowledged++));
        await Promise.all(writes);
      }
      expect(seen['ok']).toBeGreaterThan(0);
      shard.crash();
      const { state, wal } = await replay(shard.storage);
      expect(acknowledged).toBe(600);
      for (let i = 0; i < 10; i++) expect(state.crdt.counterValue(`k${i}`, 'n'), `seed ${seed}`).toBe(60);
      await wal.close();
    });
  }
});

describe('failover to a promoted follower, and reads', () => {
  it('loses no acknowledged write and applies none twice when the leader dies and a follower takes over', async () => {
    const net = new InProcessNetwork();
    const leaderStorage = new MemoryStorage();
    const { wal } = await Wal.open(leaderStorage, { shard: 0 });
    let leader: ShardLeader | undefined = await ShardLeader.open({ wal, replica: 'old' });
    const leaderTransport = net.connect({ shard: 0, replica: 'old' });
    const shipper = new WalShipper({
      wal,
      transport: leaderTransport,
      followers: [{ shard: 0, replica: 'new' }],
      heartbeatMs: 10,
      resendTimeoutMs: 50,
    });
    shipper.start();
    const followerState = new ShardState();
    const follower = await FollowerDb.open({
      storage: new MemoryStorage(),
      shard: 0,
      transport: net.connect({ shard: 0, replica: 'new' }),
      leader: { shard: 0, replica: 'old' },
      stateMachine: followerState,
      stallTimeoutMs: 50,
    });
    let down = false;
    const link: SessionLink = {
      write: (r) => (down || !leader ? Promise.reject(lost()) : leader.write(r)),
    };
    const writer = new SessionWriter({ shard: 0, link, retryDelayMs: 1, maxRetryDelayMs: 5 });
    onTestFinished(() => writer.close());
    const op = [{ op: 'increment' as const, key: 'k', kind: 'n', by: 1 }];
    const tokens: Promise<WriteToken>[] = [];
    for (let i = 0; i < 200; i++) tokens.push(writer.write(op));
    await Promise.all(tokens.slice(0, 100));
    // The leader's worker dies: whatever it acknowledged is flushed in its storage, shipped or not.
    down = true;
    shipper.stop();
    leaderTransport.close();
    leaderStorage.crash();
    leader = undefined;
    const oldLog = (await Wal.open(leaderStorage, { shard: 0 })).wal;
    const promoted = await follower.promote({ catchUpFrom: oldLog });
    await oldLog.close();
    leader = await ShardLeader.open({ wal: promoted, replica: 'new', state: followerState });
    down = false;
    writer.resend(); // the writer learns of the new leader and resends what was not acknowledged
    const all = await Promise.all(tokens);
    expect(leader.state.crdt.counterValue('k', 'n')).toBe(200);
    expect(new Set(all.map((t) => t.lsn)).size).toBe(200);
    // Reads after a token wait for it; the session's reads never go back in time.
    await waitForToken(leader, { shard: 0, lsn: writer.lastSeenLsn });
    expect(leader.appliedLsn).toBeGreaterThanOrEqual(writer.lastSeenLsn);
    await expect(waitForToken(leader, { shard: 1, lsn: 1 })).rejects.toMatchObject({ code: 'WrongShard' });
    await promoted.close();
  });

  it('read-your-writes on a follower waits for the token, and times out when the follower cannot reach it', async () => {
    const net = new InProcessNetwork();
    const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
    const leader = await ShardLeader.open({ wal, replica: 'l' });
    const transport = net.connect({ shard: 0, replica: 'l' });
    const shipper = new WalShipper({ wal, transport, followers: [{ shard: 0, replica: 'f' }], heartbeatMs: 10 });
    shipper.start();
    const state = new ShardState();
    const follower = await FollowerDb.open({
      storage: new MemoryStorage(),
      shard: 0,
      transport: net.connect({ shard: 0, replica: 'f' }),
      leader: { shard: 0, replica: 'l' },
      stateMachine: state,
    });
    onTestFinished(async () => {
      shipper.stop();
      transport.close();
      await follower.close();
      await wal.close();
    });
    const writer = new SessionWriter({ shard: 0, link: { write: (r) => leader.write(r) } });
    const token = await writer.write([{ op: 'set', key: 'item', field: 'label', value: 'cats' }]);
    await waitForToken(follower, token);
    expect(state.crdt.fieldValue('item', 'label')).toBe('cats');
    shipper.stop(); // the follower will not hear of anything newer
    const later = await writer.write([{ op: 'set', key: 'item', field: 'label', value: 'dogs' }]);
    await expect(waitForToken(follower, later, 100)).rejects.toMatchObject({ code: 'Timeout' });
    expect(state.crdt.fieldValue('item', 'label')).toBe('cats');
  });
});
