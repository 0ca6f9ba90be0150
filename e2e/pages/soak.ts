// One tab of a soak run (scripts/soak.mjs): opens the database named in the
// query string (`?name=<db>&shards=<n>&leaderTimeoutMs=<ms>`, with fault
// injection on) and, once told to, writes to it continuously from a seeded
// stream, keeping a ledger of every write and its outcome. The runner reads
// the ledgers of every tab that ever lived and checks the final state
// against them, exactly.
//
//     await soak.start({ writer: '17.3', seed: 17, keys: 12 });
//     const { writes } = await soak.quiesce('plain', 60_000, 300_000); // before this tab is closed or reloaded
import { mulberry32 } from '../../src/common/random.js';
import { openTidal, type TidalDb, type WriteToken } from '../../src/index.js';

/** One write and what became of it. */
export interface SoakWrite {
  /** `<writer>.<n>`: unique within a run. */
  readonly id: string;
  readonly key: string;
  readonly op: 'increment' | 'add';
  /** The increment's amount (1 for an `add`). */
  readonly by: number;
  /** What an `add` adds to set `s` (the id of the write that first made it). */
  readonly member?: string;
  /** Present on the writes that carry one: a retry of the same key must apply once. */
  readonly idempotencyKey?: string;
  state: 'pending' | 'acked' | 'rejected';
  code?: string;
}

/** How a tab writes. */
export interface WriterPlan {
  /** This writer's name (the runner's tab instance): prefix of its write ids. */
  readonly writer: string;
  readonly seed: number;
  /** Writes go to keys `k:00` .. `k:<keys-1>`. */
  readonly keys: number;
  /** Share of writes that carry an idempotency key. Default 0.3. */
  readonly keyedRate?: number;
  /** Share of writes that re-send an earlier keyed write, same key, same operation. Default 0.05. */
  readonly duplicateRate?: number;
  /** Most writes in flight at once. Default 12. */
  readonly maxInFlight?: number;
}

export interface SoakTab {
  /** How many writes are pending, acknowledged, rejected. */
  progress(): { pending: number; acked: number; rejected: number };
  start(plan: WriterPlan): void;
  /**
   * Stops writing and waits for the writes in flight to settle: only those without an idempotency
   * key (`'plain'`, before the tab is closed or reloaded: the keyed ones are left in flight on
   * purpose, and retried later from another tab), or all of them (`'all'`). It waits as long as
   * the tab makes progress (a write of this tab settles, or a shard's log or replica in this tab
   * moves on) and gives up after `stallMs` without any, or `capMs` in all: `unsettled` then says
   * how many did not settle, `stalledMs` how long nothing moved.
   */
  quiesce(which: 'plain' | 'all', stallMs: number, capMs: number): Promise<{ writes: SoakWrite[]; unsettled: number; stalledMs: number }>;
  /** Stops writing (no new writes; those in flight go on). */
  stop(): Promise<void>;
  /** The writes still pending, as `<id> <op> <key>` (a failure report's). */
  pendingWrites(): string[];
  /** Sends `writes` again, same operations and idempotency keys; resolves with each outcome. */
  resend(writes: readonly SoakWrite[]): Promise<(string | 'acked')[]>;
}

declare global {
  interface Window {
    tidal: TidalDb;
    tidalReady: Promise<TidalDb>;
    tidalError?: string;
    soak: SoakTab;
  }
}

const params = new URLSearchParams(location.search);
// `?janitor`: opens nothing (the runner removes a finished run's folder from such a tab).
if (!params.has('janitor')) open();

function open(): void {
  window.tidalReady = openTidal({
    name: params.get('name') ?? 'soak',
    shards: Number(params.get('shards') ?? 2),
    leaderTimeoutMs: Number(params.get('leaderTimeoutMs') ?? 1500),
    debug: true,
  }).then(
    (db) => (window.tidal = db),
    (error: unknown) => {
      window.tidalError = String(error);
      throw error;
    },
  );
}

const writes: SoakWrite[] = [];
const inFlight = new Set<Promise<void>>();
let stopping = false;
let loop: Promise<void> | undefined;
let lastPlan: WriterPlan | undefined;
/** Wakes the write loop when a write settles (it waits while `maxInFlight` are in flight). */
let wake: (() => void) | undefined;

/** Where this tab's shards are (each one's log end, applied LSN and role): it changes while anything moves. */
async function logPosition(): Promise<string> {
  const db = await window.tidalReady;
  const stats = await db.stats();
  return stats.shards.map((s) => `${s.role}:${s.lsn}:${s.appliedLsn}:${s.restarts}`).join(' ');
}

function send(db: TidalDb, write: SoakWrite): Promise<void> {
  const options = write.idempotencyKey === undefined ? undefined : { idempotencyKey: write.idempotencyKey };
  const written: Promise<WriteToken> =
    write.op === 'increment' ? db.increment(write.key, 'n', write.by, options) : db.add(write.key, 's', write.member ?? write.id, options);
  const settled = written.then(
    () => {
      write.state = 'acked';
    },
    (error: unknown) => {
      write.state = 'rejected';
      write.code = (error as { code?: string }).code ?? String(error);
    },
  );
  const tracked = settled.finally(() => {
    inFlight.delete(tracked);
    wake?.();
  });
  inFlight.add(tracked);
  return tracked;
}

async function writeLoop(db: TidalDb, plan: WriterPlan): Promise<void> {
  const random = mulberry32(plan.seed);
  const keyedRate = plan.keyedRate ?? 0.3;
  const duplicateRate = plan.duplicateRate ?? 0.05;
  const maxInFlight = plan.maxInFlight ?? 12;
  const keyed: SoakWrite[] = [];
  let n = 0;
  while (!stopping) {
    const burst = 1 + Math.floor(random() * 4);
    for (let i = 0; i < burst; i++) {
      const id = `${plan.writer}.${n++}`;
      let write: SoakWrite;
      if (keyed.length > 0 && random() < duplicateRate) {
        const earlier = keyed[Math.floor(random() * keyed.length)]!;
        write = { ...earlier, id: `${id}=${earlier.id}`, state: 'pending' };
        delete write.code;
      } else {
        const key = `k:${String(Math.floor(random() * plan.keys)).padStart(2, '0')}`;
        const op = random() < 0.75 ? 'increment' : 'add';
        const by = op === 'increment' ? 1 + Math.floor(random() * 3) : 1;
        const member = op === 'add' ? { member: id } : {};
        const idempotency = random() < keyedRate ? { idempotencyKey: id } : {};
        write = { id, key, op, by, ...member, ...idempotency, state: 'pending' };
        if (write.idempotencyKey !== undefined) keyed.push(write);
      }
      writes.push(write);
      void send(db, write);
    }
    while (inFlight.size >= maxInFlight && !stopping) await new Promise<void>((resolve) => (wake = resolve));
    // Pacing, not waiting for a condition: a few ms between bursts leaves the machine to the faults.
    await new Promise((resolve) => setTimeout(resolve, 2 + random() * 10));
  }
}

async function stopWriting(): Promise<void> {
  stopping = true;
  wake?.();
  await loop;
}

window.soak = {
  progress() {
    const count = (state: SoakWrite['state']) => writes.filter((w) => w.state === state).length;
    return { pending: count('pending'), acked: count('acked'), rejected: count('rejected') };
  },
  start(plan) {
    if (loop) throw new Error('soak: this tab is already writing');
    lastPlan = plan;
    loop = window.tidalReady.then((db) => writeLoop(db, plan));
  },
  stop: stopWriting,
  pendingWrites() {
    return writes.filter((w) => w.state === 'pending').map((w) => `${w.id} ${w.op} ${w.key}${w.idempotencyKey ? ' keyed' : ''}`);
  },
  async quiesce(which, stallMs, capMs) {
    await stopWriting();
    // Before a close or reload, a last burst of keyed writes, sent and not waited for: in flight
    // when the tab goes, they may or may not land, and are retried from another tab.
    if (which === 'plain' && lastPlan) {
      const db = await window.tidalReady;
      for (let i = 0; i < 4; i++) {
        const id = `${lastPlan.writer}.last${i}`;
        const write: SoakWrite = {
          id,
          key: `k:${String(i % lastPlan.keys).padStart(2, '0')}`,
          op: 'increment',
          by: 1,
          idempotencyKey: id,
          state: 'pending',
        };
        writes.push(write);
        void send(db, write);
      }
    }
    const waited = writes.filter((w) => w.state === 'pending' && (which === 'all' || w.idempotencyKey === undefined));
    const started = Date.now();
    let movedAt = started;
    let settled = writes.filter((w) => w.state !== 'pending').length;
    let position = await logPosition();
    for (;;) {
      const unsettled = waited.filter((w) => w.state === 'pending').length;
      const stalledMs = Date.now() - movedAt;
      // A copy: the writes still in flight settle after this answer, in this tab only.
      if (unsettled === 0 || stalledMs >= stallMs || Date.now() - started >= capMs)
        return { writes: writes.map((w) => ({ ...w })), unsettled, stalledMs };
      await Promise.race([Promise.race(inFlight), new Promise((resolve) => setTimeout(resolve, 250))]);
      const settledNow = writes.filter((w) => w.state !== 'pending').length;
      const positionNow = await logPosition();
      if (settledNow > settled || positionNow !== position) movedAt = Date.now();
      settled = settledNow;
      position = positionNow;
    }
  },
  async resend(again) {
    const db = await window.tidalReady;
    const copies = again.map((w): SoakWrite => ({ ...w, state: 'pending' }));
    await Promise.all(copies.map((w) => send(db, w)));
    return copies.map((w) => (w.state === 'acked' ? 'acked' : `${w.state} ${w.code ?? ''}`));
  },
};
