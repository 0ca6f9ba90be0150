/**
 * The session suite: what exactly-once costs on the write path, and what a
 * session costs in memory. Runs on the bench page's main thread, on
 * `MemoryStorage` (durable mode, as the wal suite's memory metric), so that
 * the figures are the CPU cost of the code, not of a disk.
 *
 * Events: the session bridge's own WAL events, one per write, each a write
 * of one counter increment (`{ t: 'write', session, startedAt, seq, acked,
 * at, ops: [{ op: 'increment', key, kind, by, replica, hlc }] }`, ~150
 * bytes encoded), 1,000 per awaited tick, from 16 sessions in turn.
 * - `session.append.baseline.events_per_s`: those events appended to a
 *   `Wal` as they are, no check (built beforehand).
 * - `session.append.events_per_s`: the same writes through the leader's
 *   idempotency check: each request classified against the
 *   `IdempotencyStore` (duplicate? in flight? gap? expired?), admitted and
 *   its event built; the tick's events appended (one call, as the baseline)
 *   and each recorded (SeqNo → LSN, high-water mark, acknowledged results
 *   dropped) once committed. The target is that
 *   the check costs at most 10%: `session.append / session.append.baseline
 *   ≥ 0.9` (the issue also asks for it beside `wal.append.memory`, which
 *   appends 100-byte binary events instead: see bench/README.md).
 * - `session.memory.bytes_per_session`: JS heap growth per session with
 *   10,000 sessions remembered by an `IdempotencyStore`, each having made
 *   8 writes of which its writer acknowledged 4 (so 4 results are kept),
 *   measured with `performance.memory` after a forced GC (the bench
 *   browser runs with precise memory info and `--expose-gc`).
 * Each throughput metric is the median of 7 rounds after a warm-up round.
 */
import { TidalError } from '../../src/common/errors.js';
import { IdempotencyStore } from '../../src/session/idempotency-store.js';
import type { WriteEvent, WriteRequest } from '../../src/session/write.js';
import { MemoryStorage } from '../../src/wal/memory-storage.js';
import type { Value } from '../../src/wal/payload.js';
import { Wal } from '../../src/wal/wal.js';

type Report = (metric: string, value: number, unit: string) => void;

const TICK = 1_000;
const TICKS = 50;
const SESSIONS = 16;
const ROUNDS = 7;
const MEMORY_SESSIONS = 10_000;

const sessionId = (i: number) => i.toString(16).padStart(32, '0');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function request(session: number, seq: number): WriteRequest {
  return {
    session: sessionId(session),
    startedAt: 1_700_000_000_000,
    seq,
    acked: seq - 1,
    ops: [{ op: 'increment', key: `item:${seq % 1000}`, kind: 'view', by: 1 }],
  };
}

function eventFor(req: WriteRequest, at: number, hlc: bigint): WriteEvent {
  const op = req.ops[0]!;
  return {
    t: 'write',
    session: req.session,
    startedAt: req.startedAt,
    seq: req.seq,
    acked: req.acked,
    at,
    ops: [{ ...(op as { op: 'increment'; key: string; kind: string; by: number }), replica: 'bench', hlc }],
  };
}

/** Appends prebuilt events, 1,000 per awaited tick; events/s. */
async function baselineRound(): Promise<number> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
  const ticks: Value[][] = [];
  let hlc = 1n << 40n;
  for (let t = 0; t < TICKS; t++) {
    const events: Value[] = [];
    for (let i = 0; i < TICK; i++) {
      const n = t * TICK + i;
      events.push(eventFor(request(n % SESSIONS, Math.floor(n / SESSIONS) + 1), 1_700_000_000_000, hlc++) as unknown as Value);
    }
    ticks.push(events);
  }
  const started = performance.now();
  for (const events of ticks) await wal.append(events);
  const ms = performance.now() - started;
  await wal.close();
  return (TICKS * TICK) / (ms / 1000);
}

/** The same writes through the idempotency check; events/s. */
async function guardedRound(): Promise<number> {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 0 });
  const store = new IdempotencyStore();
  const ticks: WriteRequest[][] = [];
  for (let t = 0; t < TICKS; t++) {
    const requests: WriteRequest[] = [];
    for (let i = 0; i < TICK; i++) {
      const n = t * TICK + i;
      requests.push(request(n % SESSIONS, Math.floor(n / SESSIONS) + 1));
    }
    ticks.push(requests);
  }
  let hlc = 1n << 40n;
  const now = 1_700_000_000_000;
  const started = performance.now();
  for (const requests of ticks) {
    const events: WriteEvent[] = [];
    for (const req of requests) {
      const admission = store.classify(req, now);
      if (admission.kind !== 'new') throw new TidalError('Corrupt', `write ${req.seq} classified ${admission.kind}`);
      store.admit(req, now);
      events.push(eventFor(req, now, hlc++));
    }
    const { first } = await wal.append(events as unknown as Value[]);
    events.forEach((event, i) => store.record(first + i, event));
  }
  const ms = performance.now() - started;
  await wal.close();
  return (TICKS * TICK) / (ms / 1000);
}

interface PreciseMemory {
  usedJSHeapSize: number;
}

async function heapUsed(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const memory = (performance as unknown as { memory?: PreciseMemory }).memory;
  if (!gc || !memory)
    throw new TidalError('InvalidArgument', 'session.memory needs --expose-gc and performance.memory (see scripts/chromium.mjs)');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return memory.usedJSHeapSize;
}

async function bytesPerSession(): Promise<number> {
  const before = await heapUsed();
  const store = new IdempotencyStore({ maxSessions: MEMORY_SESSIONS });
  let lsn = 1;
  for (let s = 0; s < MEMORY_SESSIONS; s++) {
    for (let seq = 1; seq <= 8; seq++) {
      const req = { ...request(s, seq), acked: Math.max(0, seq - 5) };
      store.admit(req, 1_700_000_000_000);
      store.record(lsn++, eventFor(req, 1_700_000_000_000, 0n));
    }
  }
  const after = await heapUsed();
  console.log(`session: heap ${before} → ${after} bytes for ${store.sessionCount} sessions, ${store.approximateBytes()} estimated`);
  if (store.sessionCount !== MEMORY_SESSIONS) throw new TidalError('Corrupt', `store holds ${store.sessionCount} sessions`);
  return (after - before) / MEMORY_SESSIONS;
}

export async function run(report: Report): Promise<void> {
  // Memory first, on a quiet heap.
  report('session.memory.bytes_per_session', await bytesPerSession(), 'bytes');
  await baselineRound();
  await guardedRound();
  const baseline: number[] = [];
  const guarded: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate, so that drift in the machine's load hits both alike.
    if (i % 2 === 0) {
      baseline.push(await baselineRound());
      guarded.push(await guardedRound());
    } else {
      guarded.push(await guardedRound());
      baseline.push(await baselineRound());
    }
  }
  console.log(`session: rounds (events/s): baseline ${baseline.map(Math.round).join(', ')}; guarded ${guarded.map(Math.round).join(', ')}`);
  report('session.append.baseline.events_per_s', median(baseline), 'events/s');
  report('session.append.events_per_s', median(guarded), 'events/s');
}
