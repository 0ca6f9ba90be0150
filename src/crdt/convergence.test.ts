/**
 * Convergence: k replicas (2..6) issue random operations while syncing
 * under random schedules with drops, duplicates, reorders and partitions
 * that heal; in the end every replica holds identical bytes, and the state
 * is the one the operations define: each counter the sum of every
 * increment minus every decrement, each field the value of the write with
 * the greatest (HLC, replica), each set the union of every add.
 *
 * fast-check prints the seed and path of a failing case; replay it with
 *     CRDT_SEED=<seed> CRDT_PATH=<path> npx vitest run src/crdt/convergence.test.ts
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { smallValueArb } from './testing/arbitraries.js';
import { HLC, compareStamps, type HlcTimestamp } from './hlc.js';
import type { CrdtOperation } from './operation.js';
import { ReconciliationEngine } from './reconciliation-engine.js';
import { CrdtSignalState } from './signal-state.js';
import { SimLink, prng, virtualTime } from './testing/sim.js';
import { bytesKey, canonicalValueBytes, compareBytes, exactValueBytes, type CrdtValue } from '../common/value.js';

const replay: fc.Parameters<unknown> = process.env['CRDT_SEED']
  ? { seed: Number(process.env['CRDT_SEED']), ...(process.env['CRDT_PATH'] ? { path: process.env['CRDT_PATH'] } : {}), endOnFailure: true }
  : {};

/** An operation before it is stamped by its replica. */
type Intent =
  | { op: 'increment' | 'decrement'; key: string; kind: string; by: number }
  | { op: 'set'; key: string; field: string; value: CrdtValue }
  | { op: 'add'; key: string; set: string; member: CrdtValue };

type Step =
  | { t: 'op'; replica: number; intent: Intent }
  | { t: 'sync'; from: number; to: number; drop: number; duplicate: number }
  | { t: 'partition'; a: number; b: number; on: boolean }
  | { t: 'clock'; replica: number; deltaMs: number };

// Enough keys that leaves hold several entities and the tree grows a few levels.
const keyArb = fc.oneof(
  fc.nat({ max: 39 }).map((i) => `k${i}`),
  fc.constant('ключ'),
);
const intentArb: fc.Arbitrary<Intent> = fc.oneof(
  fc.record({
    op: fc.constantFrom<'increment' | 'decrement'>('increment', 'decrement'),
    key: keyArb,
    kind: fc.constantFrom('view', 'click'),
    by: fc.integer({ min: 1, max: 9 }),
  }),
  fc.record({ op: fc.constant<'set'>('set'), key: keyArb, field: fc.constantFrom('label', 'score'), value: smallValueArb }),
  fc.record({ op: fc.constant<'add'>('add'), key: keyArb, set: fc.constantFrom('neg', 'tags'), member: smallValueArb }),
);

function stepArb(k: number): fc.Arbitrary<Step> {
  const replica = fc.nat({ max: k - 1 });
  const otherPair = fc.tuple(replica, fc.nat({ max: k - 2 })).map(([a, d]) => [a, (a + 1 + d) % k] as const);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant<'op'>('op'), replica, intent: intentArb }) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(otherPair, fc.constantFrom(0, 0.1, 0.3), fc.constantFrom(0, 0.2, 0.5))
        .map(([[from, to], drop, duplicate]): Step => ({ t: 'sync', from, to, drop, duplicate })),
    },
    { weight: 1, arbitrary: fc.tuple(otherPair, fc.boolean()).map(([[a, b], on]): Step => ({ t: 'partition', a, b, on })) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant<'clock'>('clock'), replica, deltaMs: fc.integer({ min: -3_000, max: 3_000 }) }) },
  );
}

/** What the operations issued anywhere say the state must be. */
class Expected {
  readonly counters = new Map<string, number>();
  readonly fields = new Map<string, { hlc: HlcTimestamp; replica: string; bytes: Uint8Array; canonical: Uint8Array }>();
  readonly sets = new Map<string, Set<string>>();
  readonly keys = new Set<string>();

  record(op: CrdtOperation): void {
    this.keys.add(op.key);
    switch (op.op) {
      case 'increment':
      case 'decrement': {
        const id = `${op.key}\u0000${op.kind}`;
        this.counters.set(id, (this.counters.get(id) ?? 0) + (op.op === 'increment' ? op.by : -op.by));
        return;
      }
      case 'set': {
        const id = `${op.key}\u0000${op.field}`;
        // A register holds the exact form; equal stamps break on canonical bytes, then exact bytes (docs/CRDT.md).
        const bytes = exactValueBytes(op.value);
        const canonical = canonicalValueBytes(op.value);
        const best = this.fields.get(id);
        const order = best
          ? compareStamps(op.hlc, op.replica, best.hlc, best.replica) ||
            compareBytes(canonical, best.canonical) ||
            compareBytes(bytes, best.bytes)
          : 1;
        if (order > 0) this.fields.set(id, { hlc: op.hlc, replica: op.replica, bytes, canonical });
        return;
      }
      case 'add': {
        const id = `${op.key}\u0000${op.set}`;
        let members = this.sets.get(id);
        if (!members) this.sets.set(id, (members = new Set()));
        members.add(bytesKey(canonicalValueBytes(op.member)));
        return;
      }
    }
  }

  check(state: CrdtSignalState): void {
    expect(new Set(state.keys())).toEqual(this.keys);
    let counters = 0;
    let fields = 0;
    let sets = 0;
    for (const key of state.keys()) {
      const view = state.entity(key)!;
      for (const [kind, value] of view.counters) {
        expect(value, `counter ${key}/${kind}`).toBe(this.counters.get(`${key}\u0000${kind}`));
        counters++;
      }
      for (const name of view.fields.keys()) {
        const register = state.field(key, name)!;
        const best = this.fields.get(`${key}\u0000${name}`)!;
        expect([register.hlc, register.replica, [...register.valueBytes]], `field ${key}/${name}`).toEqual([
          best.hlc,
          best.replica,
          [...best.bytes],
        ]);
        fields++;
      }
      for (const [name, members] of view.sets) {
        expect(new Set(members.map((m) => bytesKey(canonicalValueBytes(m)))), `set ${key}/${name}`).toEqual(
          this.sets.get(`${key}\u0000${name}`),
        );
        sets++;
      }
    }
    expect([counters, fields, sets]).toEqual([this.counters.size, this.fields.size, this.sets.size]);
  }
}

function stamp(intent: Intent, replica: string, clock: HLC): CrdtOperation {
  switch (intent.op) {
    case 'increment':
    case 'decrement':
      return { ...intent, replica };
    case 'set':
      return { ...intent, hlc: clock.now(), replica };
    case 'add':
      return { ...intent, replica };
  }
}

let blake3: Blake3;
beforeAll(async () => {
  blake3 = await loadBlake3();
});

describe('convergence', () => {
  it('replicas syncing through ReconciliationEngine over faulty links converge to the state the operations define (seeded)', async () => {
    const scenario = fc.integer({ min: 2, max: 6 }).chain((k) =>
      fc.record({
        k: fc.constant(k),
        netSeed: fc.nat(),
        leafSize: fc.constantFrom(1, 2, 8),
        skews: fc.array(fc.integer({ min: -5_000, max: 5_000 }), { minLength: k, maxLength: k }),
        steps: fc.array(stepArb(k), { minLength: 10, maxLength: 80, size: 'max' }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ({ k, netSeed, leafSize, skews, steps }) => {
        const time = virtualTime();
        const random = prng(netSeed);
        const offsets = skews.slice();
        const clocks = offsets.map((_, i) => new HLC({ now: () => 1_700_000_000_000 + time.now() + offsets[i]! }));
        const states = clocks.map((clock) => new CrdtSignalState({ clock }));
        const expected = new Expected();
        // One link per pair, with an engine at each end.
        const links = new Map<string, SimLink>();
        const engines = new Map<string, ReconciliationEngine>();
        const options = { clock: time, random, retryTimeoutMs: 50, maxRetries: 12, maxMessageBytes: 4096, leafSize };
        for (let a = 0; a < k; a++) {
          for (let b = a + 1; b < k; b++) {
            const link = new SimLink(time, random);
            link.faults.maxDelayMs = 30;
            links.set(`${a}-${b}`, link);
            engines.set(`${a}>${b}`, new ReconciliationEngine({ state: states[a]!, channel: link.ends[0], ...options }, blake3));
            engines.set(`${b}>${a}`, new ReconciliationEngine({ state: states[b]!, channel: link.ends[1], ...options }, blake3));
          }
        }
        const linkOf = (a: number, b: number) => links.get(a < b ? `${a}-${b}` : `${b}-${a}`)!;
        // A session that completes leaves the two replicas identical (nothing else writes meanwhile).
        const sync = async (from: number, to: number) => {
          const outcome = await time.run(engines.get(`${from}>${to}`)!.reconcile());
          if (outcome.ok) expect(states[from]!.encode(), `after sync ${from}→${to}`).toEqual(states[to]!.encode());
          else expect(outcome.error).toEqual(expect.objectContaining({ code: 'Timeout' }));
          return outcome.ok;
        };

        for (const step of steps) {
          switch (step.t) {
            case 'op': {
              const op = stamp(step.intent, `r${step.replica}`, clocks[step.replica]!);
              states[step.replica]!.apply(op);
              expected.record(op);
              break;
            }
            case 'sync': {
              const link = linkOf(step.from, step.to);
              link.faults.drop = step.drop;
              link.faults.duplicate = step.duplicate;
              await sync(step.from, step.to); // may time out: the schedule decides
              break;
            }
            case 'partition':
              linkOf(step.a, step.b).faults.partitioned = step.on;
              break;
            case 'clock':
              offsets[step.replica] = Math.max(-20_000, Math.min(20_000, offsets[step.replica]! + step.deltaMs));
              break;
          }
        }

        // Heal, and sync along a line and back, through a still-lossy network.
        for (const link of links.values()) link.faults = { drop: 0.2, duplicate: 0.2, maxDelayMs: 30, partitioned: false };
        const line = [...Array(k).keys()];
        const passes = [
          ...line.slice(0, -1).map((i) => [i, i + 1]),
          ...line
            .slice(1)
            .reverse()
            .map((i) => [i, i - 1]),
        ];
        for (const [from, to] of passes) {
          let done = false;
          for (let attempt = 0; attempt < 20 && !done; attempt++) done = await sync(from!, to!);
          expect(done, `sync ${from}→${to} never completed`).toBe(true);
        }

        const bytes = states[0]!.encode();
        for (const s of states) expect(s.encode()).toEqual(bytes);
        expected.check(states[0]!);
        for (const engine of engines.values()) {
          expect(engine.stats.rejected).toBe(0);
          engine.close();
        }
      }),
      { seed: 0x7da1, numRuns: 200, ...replay },
    );
    // 200 simulated runs: about 12 s alone on 2 cores, 60 s with the rest of the suite at load 12.
  }, 240_000);

  it('replicas exchanging whole states as messages converge whatever is dropped, duplicated or reordered (seeded)', () => {
    const scenario = fc.integer({ min: 2, max: 6 }).chain((k) =>
      fc.record({
        k: fc.constant(k),
        events: fc.array(
          fc.oneof(
            fc.record({ t: fc.constant<'op'>('op'), replica: fc.nat({ max: k - 1 }), intent: intentArb }),
            fc.record({
              t: fc.constant<'send'>('send'),
              from: fc.nat({ max: k - 1 }),
              to: fc.nat({ max: k - 1 }),
              copies: fc.integer({ min: 0, max: 2 }),
            }),
            fc.record({ t: fc.constant<'deliver'>('deliver'), pick: fc.nat() }),
            fc.record({ t: fc.constant<'partition'>('partition'), on: fc.boolean(), side: fc.nat({ max: k - 1 }) }),
          ),
          { maxLength: 120, size: 'max' },
        ),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ k, events }) => {
        let wall = 1_000_000;
        const clocks = [...Array(k).keys()].map(() => new HLC({ now: () => wall }));
        const states = clocks.map((clock) => new CrdtSignalState({ clock }));
        const expected = new Expected();
        // In flight: encoded snapshots, delivered in any order, some never.
        const inFlight: { to: number; bytes: Uint8Array }[] = [];
        let partitionedSide = -1;
        for (const e of events) {
          wall += 1;
          if (e.t === 'op') {
            const op = stamp(e.intent, `r${e.replica}`, clocks[e.replica]!);
            states[e.replica]!.apply(op);
            expected.record(op);
          } else if (e.t === 'send') {
            // Copies: 0 is a drop, 2 a duplicate. A partition drops everything crossing it.
            const crosses = (e.from === partitionedSide) !== (e.to === partitionedSide);
            if (e.from === e.to || crosses) continue;
            for (let c = 0; c < e.copies; c++) inFlight.push({ to: e.to, bytes: states[e.from]!.encode() });
          } else if (e.t === 'deliver') {
            if (inFlight.length === 0) continue;
            const [message] = inFlight.splice(e.pick % inFlight.length, 1);
            states[message!.to]!.merge(CrdtSignalState.decode(message!.bytes));
          } else {
            partitionedSide = e.on ? e.side : -1;
          }
        }
        // Heal: deliver what is still in flight, then everyone hears from everyone.
        for (const message of inFlight) states[message.to]!.merge(CrdtSignalState.decode(message.bytes));
        for (let round = 0; round < 2; round++) for (const a of states) for (const b of states) if (a !== b) a.merge(b);
        const bytes = states[0]!.encode();
        for (const s of states) expect(s.encode()).toEqual(bytes);
        expected.check(states[0]!);
      }),
      { seed: 0x5eed, numRuns: 300, ...replay },
    );
  });
});
