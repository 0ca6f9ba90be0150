// The values property test's page (e2e/values.spec.ts): the same seeded plan
// of writes is generated in every tab (fast-check, `fc.sample`), so one tab
// writes it and any tab, before or after a reload, checks what it reads
// against a model built from the write outcomes, with comparisons written
// here, apart from the codec under test.
import fc from 'fast-check';
import { isTidalError, openTidal, type TidalDb, type WriteToken } from '../../src/index.js';
import { illFormedTextArb, numberArb, textArb, valueArb } from '../../src/common/testing/value-arbitraries.js';
import type { Value } from '../../src/common/value.js';

type Write =
  | { op: 'set'; key: string; name: string; value: Value }
  | { op: 'add'; key: string; name: string; value: Value }
  | { op: 'increment' | 'decrement'; key: string; name: string; by: number };
type Outcome = { ok: true; token: WriteToken } | { ok: false; code: string };

const nameArb = fc.oneof(
  fc.constantFrom('f', 'm', 'c', '\uFEFFn', '\u{10000}'),
  textArb.filter((t) => t.length > 0 && t.length <= 256),
);
const bigValueArb = fc
  .constant(null)
  .map((): Value => ({ blob: new Uint8Array(200_000).fill(7), deep: JSON.parse('['.repeat(50) + '1' + ']'.repeat(50)) as Value }));
const storedArb: fc.Arbitrary<Value> = fc.oneof(
  { weight: 6, arbitrary: valueArb },
  { weight: 2, arbitrary: numberArb },
  { weight: 1, arbitrary: bigValueArb },
  { weight: 1, arbitrary: illFormedTextArb.map((t): Value => ({ [t.length % 2 ? 'k' : t]: t })) },
);

function planArb(prefix: string): fc.Arbitrary<Write[]> {
  const keyArb = fc
    .oneof(
      fc.constantFrom('k1', 'k2', '\uFEFFk', 'k\u{1F600}'),
      textArb.filter((t) => t.length > 0),
      illFormedTextArb,
    )
    .map((k) => prefix + k);
  const writeArb: fc.Arbitrary<Write> = fc.oneof(
    fc.record({ op: fc.constantFrom<'set' | 'add'>('set', 'add'), key: keyArb, name: nameArb, value: storedArb }),
    fc.record({
      op: fc.constantFrom<'increment' | 'decrement'>('increment', 'decrement'),
      key: fc.constantFrom(prefix + 'n1', prefix + 'n2'),
      name: fc.constant('c'),
      by: fc.oneof(fc.constant(2 ** 52), fc.integer({ min: 1, max: 1000 }), fc.constantFrom(0, -1, 1.5, 2 ** 53)),
    }),
  );
  return fc.array(writeArb, { minLength: 1, maxLength: 8 });
}

/** The plan: `runs` samples of a few writes each, the same in every tab for the same seed. */
function plan(seed: number, runs: number, prefix: string): Write[] {
  return fc.sample(planArb(prefix), { seed, numRuns: runs }).flat();
}

const wellFormed = (t: string) => (t as string & { isWellFormed(): boolean }).isWellFormed();
function allWellFormed(v: unknown): boolean {
  if (typeof v === 'string') return wellFormed(v);
  if (Array.isArray(v)) return v.every(allWellFormed);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array))
    return Object.entries(v).every(([k, x]) => wellFormed(k) && allWellFormed(x));
  return true;
}

/** Same value as written: Object.is at the leaves, same key order. */
function exact(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array)
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => exact(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k, i) => k === kb[i] && exact((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return Object.is(a, b);
}

/** Equal values (docs/PAYLOAD.md §3): -0 is 0, NaN is NaN, key order does not matter. */
function equal(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (a !== a && b !== b);
  if (a instanceof Uint8Array || b instanceof Uint8Array) return exact(a, b);
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return (
      ka.length === kb.length &&
      ka.every((k, i) => k === kb[i] && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return a === b;
}

/** What the plan's write should get: ok, or the code it must be refused with ('Overflow' is decided by the model). */
function expectedRefusal(write: Write): string | undefined {
  if (!wellFormed(write.key) || !wellFormed(write.name)) return 'Unencodable';
  if (write.op === 'increment' || write.op === 'decrement')
    return Number.isSafeInteger(write.by) && write.by > 0 ? undefined : 'InvalidArgument';
  if (!allWellFormed((write as { value: Value }).value)) return 'Unencodable';
  return undefined;
}

let db: TidalDb;
const params = new URLSearchParams(location.search);
const ready = openTidal({ name: params.get('name') ?? 'e2e-values', shards: 4 }).then((opened) => (db = opened));

async function write(w: Write): Promise<Outcome> {
  try {
    const token =
      w.op === 'set'
        ? await db.set(w.key, w.name, w.value)
        : w.op === 'add'
          ? await db.add(w.key, w.name, w.value)
          : await db[w.op](w.key, w.name, w.by);
    return { ok: true, token };
  } catch (error) {
    return { ok: false, code: isTidalError(error) ? error.code : `not a TidalError: ${String(error)}` };
  }
}

/** Writes the plan, one write at a time; returns each outcome. */
async function runWrites(seed: number, runs: number, prefix: string): Promise<Outcome[]> {
  await ready;
  const outcomes: Outcome[] = [];
  for (const w of plan(seed, runs, prefix)) outcomes.push(await write(w));
  return outcomes;
}

/** Reads back everything the plan wrote and lists what differs from the model of its outcomes. */
async function check(seed: number, runs: number, prefix: string, outcomes: Outcome[]): Promise<string[]> {
  await ready;
  const writes = plan(seed, runs, prefix);
  const problems: string[] = [];
  const fields = new Map<string, Value>();
  const sets = new Map<string, Value[]>();
  const counters = new Map<string, bigint>();
  const totals = new Map<string, bigint>();
  const MAX = BigInt(Number.MAX_SAFE_INTEGER);
  const tokens = new Map<string, WriteToken>(); // per key, its last acknowledged write
  writes.forEach((w, i) => {
    const outcome = outcomes[i]!;
    const id = JSON.stringify([w.key, w.name]);
    let refusal = expectedRefusal(w);
    if (!refusal && (w.op === 'increment' || w.op === 'decrement')) {
      // One leader replica per shard while the plan is written: its totals, and the value, stay within 2^53-1.
      const next = (counters.get(id) ?? 0n) + (w.op === 'increment' ? 1n : -1n) * BigInt(w.by);
      const total = (totals.get(`${id}${w.op}`) ?? 0n) + BigInt(w.by);
      if (next > MAX || next < -MAX || total > MAX) refusal = 'Overflow';
      else totals.set(`${id}${w.op}`, total);
    }
    if (outcome.ok !== (refusal === undefined) || (!outcome.ok && outcome.code !== refusal)) {
      problems.push(`write ${i} (${w.op} ${JSON.stringify(w.key)}) got ${outcome.ok ? 'ok' : outcome.code}, expected ${refusal ?? 'ok'}`);
    }
    if (!outcome.ok) return;
    tokens.set(w.key, outcome.token);
    if (w.op === 'set') fields.set(id, w.value);
    else if (w.op === 'add') {
      const members = sets.get(id) ?? [];
      if (!members.some((m) => equal(m, w.value))) members.push(w.value);
      sets.set(id, members);
    } else counters.set(id, (counters.get(id) ?? 0n) + (w.op === 'increment' ? 1n : -1n) * BigInt(w.by));
  });
  const entities = new Map<string, Awaited<ReturnType<TidalDb['get']>>>();
  const keys = new Set([...fields.keys(), ...sets.keys(), ...counters.keys()].map((id) => (JSON.parse(id) as string[])[0]!));
  for (const key of keys) entities.set(key, await db.get(key, { after: tokens.get(key)! }));
  const entityOf = (id: string) => entities.get((JSON.parse(id) as string[])[0]!);
  const nameOf = (id: string) => (JSON.parse(id) as string[])[1]!;
  for (const [id, value] of fields) {
    const got = entityOf(id)?.fields[nameOf(id)];
    if (!exact(got, value)) problems.push(`field ${JSON.stringify(id)} reads ${String(got)}, not what was written`);
  }
  for (const [id, members] of sets) {
    const got = entityOf(id)?.sets[nameOf(id)] ?? [];
    if (got.length !== members.length || !members.every((m) => got.some((g) => equal(g, m)))) {
      problems.push(`set ${JSON.stringify(id)} reads ${got.length} members, expected ${members.length} equal ones`);
    }
  }
  for (const [id, total] of counters) {
    const got = entityOf(id)?.counters[nameOf(id)];
    if (got !== Number(total)) problems.push(`counter ${JSON.stringify(id)} reads ${String(got)}, expected ${total}`);
  }
  return problems;
}

declare global {
  interface Window {
    values: { runWrites: typeof runWrites; check: typeof check; ready: Promise<unknown> };
  }
}
window.values = { runWrites, check, ready };
