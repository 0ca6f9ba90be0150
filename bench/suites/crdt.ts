/**
 * CRDT benchmarks, on the main thread.
 *
 * - `crdt.apply.ops_per_s`: applying the 100k-event signal workload (80 %
 *   counter increments over 4 kinds, 20 % label sets, 10k entities, 4
 *   replicas) to a fresh `CrdtSignalState` with a clock. The events are
 *   generated beforehand from a seeded PRNG; the best of 5 timed runs after
 *   2 warm-up runs is reported.
 * - `reconcile.bytes_ratio` and `reconcile.ms`: two replicas of 100k
 *   entities (counters from two replicas, a label) that differ in 1 % of
 *   them (500 changed on each side), reconciled by `ReconciliationEngine`
 *   over an in-memory channel with the default 64 KiB message bound. The
 *   ratio is all bytes both ways over the full encoded state of one
 *   replica; the time runs from `reconcile()` to its report, both engines
 *   starting with cold digest caches (so it includes hashing every entity
 *   on both sides). A 10k-entity run warms up first. The suite fails if
 *   the replicas do not end byte-identical.
 */
import { loadBlake3 } from '../../src/common/blake3.js';
import { mulberry32 } from '../../src/common/random.js';
import { CrdtSignalState, HLC, ReconciliationEngine, createInMemoryChannelPair, type CrdtOperation } from '../../src/crdt/index.js';

type Report = (metric: string, value: number, unit: string) => void;

const prng = mulberry32;

const KINDS = ['view', 'click', 'save', 'skip'];
const LABELS = ['cats', 'dogs', 'news', 'music', 'sports', 'science', 'art', 'travel'];
const REPLICAS = ['tab-a', 'tab-b', 'tab-c', 'tab-d'];
const START_MS = 1_700_000_000_000;

function signalWorkload(events: number, entities: number, seed: number): CrdtOperation[] {
  const random = prng(seed);
  let wall = START_MS;
  const clock = new HLC({ now: () => wall });
  const ops: CrdtOperation[] = [];
  for (let i = 0; i < events; i++) {
    if (i % 64 === 0) wall += 1;
    const key = `item-${Math.floor(random() * entities)}`;
    const replica = REPLICAS[Math.floor(random() * REPLICAS.length)]!;
    if (random() < 0.8) {
      ops.push({ op: 'increment', key, kind: KINDS[Math.floor(random() * KINDS.length)]!, by: 1, replica });
    } else {
      ops.push({ op: 'set', key, field: 'label', value: LABELS[Math.floor(random() * LABELS.length)]!, hlc: clock.now(), replica });
    }
  }
  return ops;
}

function applyAll(ops: readonly CrdtOperation[]): CrdtSignalState {
  const state = new CrdtSignalState({ clock: new HLC() });
  for (const op of ops) state.apply(op);
  return state;
}

async function measureApply(report: Report): Promise<void> {
  const ops = signalWorkload(100_000, 10_000, 0x5eed);
  for (let i = 0; i < 2; i++) applyAll(ops);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    applyAll(ops);
    best = Math.min(best, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  report('crdt.apply.ops_per_s', Math.round(ops.length / (best / 1000)), 'ops/s');
}

/** Two replicas of `entities` entities that differ in `differing` of them (half changed on each side). */
function divergedReplicas(entities: number, differing: number, seed: number): [CrdtSignalState, CrdtSignalState] {
  const random = prng(seed);
  let wall = START_MS;
  const clock = new HLC({ now: () => wall });
  const a = new CrdtSignalState({ clock: new HLC() });
  for (let i = 0; i < entities; i++) {
    if (i % 32 === 0) wall += 1;
    const key = `item-${i}`;
    a.apply({ op: 'increment', key, kind: 'view', by: 1 + Math.floor(random() * 50), replica: 'tab-a' });
    a.apply({ op: 'increment', key, kind: 'view', by: 1 + Math.floor(random() * 50), replica: 'tab-b' });
    if (random() < 0.5) a.apply({ op: 'increment', key, kind: 'click', by: 1 + Math.floor(random() * 5), replica: 'tab-a' });
    a.apply({ op: 'set', key, field: 'label', value: LABELS[Math.floor(random() * LABELS.length)]!, hlc: clock.now(), replica: 'tab-a' });
  }
  const b = new CrdtSignalState({ clock: new HLC() });
  b.merge(a);
  const chosen = new Set<number>();
  while (chosen.size < differing) chosen.add(Math.floor(random() * entities));
  let n = 0;
  for (const i of chosen) {
    const side = n++ % 2 === 0 ? a : b;
    const replica = side === a ? 'tab-a' : 'tab-b';
    const key = `item-${i}`;
    wall += 1;
    if (random() < 0.5) side.apply({ op: 'increment', key, kind: 'view', by: 1, replica });
    else side.apply({ op: 'set', key, field: 'label', value: LABELS[Math.floor(random() * LABELS.length)]!, hlc: clock.now(), replica });
  }
  return [a, b];
}

async function reconcileOnce(a: CrdtSignalState, b: CrdtSignalState): Promise<{ ms: number; bytes: number }> {
  const blake3 = await loadBlake3();
  const [left, right] = createInMemoryChannelPair();
  const initiator = new ReconciliationEngine({ state: a, channel: left }, blake3);
  const responder = new ReconciliationEngine({ state: b, channel: right }, blake3);
  try {
    const started = performance.now();
    const report = await initiator.reconcile();
    const ms = performance.now() - started;
    if (!a.equals(b)) throw new Error('reconciliation bench: replicas did not converge');
    return { ms, bytes: report.bytesSent + report.bytesReceived };
  } finally {
    initiator.close();
    responder.close();
  }
}

async function measureReconcile(report: Report): Promise<void> {
  const [wa, wb] = divergedReplicas(10_000, 100, 7);
  await reconcileOnce(wa, wb);
  const [a, b] = divergedReplicas(100_000, 1_000, 11);
  const fullBytes = a.encode().length;
  await new Promise((resolve) => setTimeout(resolve, 0));
  const { ms, bytes } = await reconcileOnce(a, b);
  report('reconcile.bytes_ratio', bytes / fullBytes, 'ratio');
  report('reconcile.ms', ms, 'ms');
}

/** Runs the CRDT suite. */
export async function run(report: Report): Promise<void> {
  await measureApply(report);
  await measureReconcile(report);
}
