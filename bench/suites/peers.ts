/**
 * The peers suite: tidal replicating between two tabs, durable and
 * verified, side by side with what people use for the same job today, in
 * the same browser, on the same machine, in the same run (issue 12).
 *
 * Every system gets the same seeded workload (`peers/workload.ts`: 100k
 * events, 80 % counter increments over 4 kinds, 20 % label sets, 10k
 * entities), written in one tab and replicated to another: two real tabs
 * of the bench's browser context (separate renderer processes, opened by
 * the runner; `bench/runner/tabs.mjs`), fresh for every run. Systems:
 *
 * - `tidal_batched`, `tidal_per_call`, `tidal_batched_awaited`: `openTidal`,
 *   4 shards (the default;
 *   `SHARD_VARIANTS` in peers/protocol.ts run 1 or 2 when named), OPFS,
 *   `durability: 'flush'`; the writer tab leads every shard, the reader tab
 *   follows them and verifies every byte (`peers/tidal.ts`).
 * - `yjs_tx1000`, `yjs_per_event`: Yjs 13, updates posted on a
 *   BroadcastChannel (`peers/yjs.ts`).
 * - `tinybase_tx1000`, `tinybase_per_event`: TinyBase 10 `MergeableStore`
 *   with `createBroadcastChannelSynchronizer` (`peers/tinybase.ts`).
 * - `raw_json1000`: the events as JSON, 1,000 a message, into a `Map`
 *   (`peers/raw.ts`).
 *
 * A run: the writer tab opens, then the reader tab; the reader computes the
 * reference checksum of the state the events must leave. The writer's
 * clock runs from its first write until the reader reports that it has
 * reached the writer's position and that the checksum of its whole state
 * equals the reference (`peers/tab.ts`). A run that does not converge
 * fails the system: none of its figures is reported, and the suite fails
 * after reporting the others. Rounds go system by system, `ROUNDS` times
 * (so noise from other work on the machine spreads over all of them); each
 * figure is the median over the rounds.
 *
 * Figures, `peers.<system>.*`:
 * - `written.events_per_s`: events / time from the first write until the
 *   last is written locally (tidal: acknowledged, so durable).
 * - `replicated.events_per_s`: events / time until the reader converged.
 * - `wire.bytes_per_event`: bytes that reached the reader / events (tidal:
 *   log bytes its replicas verified; TinyBase: both directions).
 * - `reader.memory_growth.mb`: the reader tab's memory after converging
 *   minus before the first write, each after a forced GC: JS heap, Blink
 *   heap and ArrayBuffer stores of the page and of every worker it runs
 *   (tidal: its 4 shard workers).
 * - `writer.main_thread.us_per_write`: the writer tab's main-thread task
 *   time (CDP `Performance.getMetrics` TaskDuration, thread time) over the
 *   run / events.
 * - `cpu.us_per_event`: the CPU time of both tabs' renderer processes (main
 *   threads and workers; CDP ProcessTime) over the run / events: what the
 *   job costs the machine, which a loaded machine does not inflate the way
 *   it inflates wall time (it leaves out the browser process, which routes
 *   every system's BroadcastChannel messages).
 */
import { TidalError } from '../../src/common/errors.js';
import {
  ALL_SYSTEMS,
  SYSTEMS,
  Unsupported,
  controlChannel,
  databaseName,
  nextMessage,
  type Role,
  type SystemName,
} from './peers/protocol.js';
import { EVENTS } from './peers/workload.js';

type Report = (metric: string, value: number, unit: string) => void;

/** `npm run bench -- peers --profile`: CPU profiles of both tabs (page and workers) from `go` until the result, one round. */
const profiling = new URLSearchParams(location.search).get('profile') === '1';
const ROUNDS = profiling ? 1 : 3;
const OPEN_LIMIT_MS = 60_000;
const RUN_LIMIT_MS = 300_000;

/** What the runner's tab service answers (bench/runner/tabs.mjs). */
type TabRequest =
  | { op: 'open'; path: string }
  | { op: 'cpu'; tab: number }
  | { op: 'memory'; tab: number }
  | { op: 'close'; tab: number }
  | { op: 'profile-start'; tab: number }
  | { op: 'profile-stop'; tab: number; label: string };
interface CpuTimes {
  taskMs: number;
  scriptMs: number;
  threadMs: number;
  processMs: number;
}
interface Memory {
  bytes: number;
  targets: { type: string; url: string; bytes: number }[];
}

declare global {
  interface Window {
    /** Installed by bench/run.mjs: opens and probes tabs of the bench's browser context. */
    __tidalBenchTabs?: (request: TabRequest) => Promise<unknown>;
  }
}

function tabService(): (request: TabRequest) => Promise<unknown> {
  const service = window.__tidalBenchTabs;
  if (!service)
    throw new TidalError(
      'InvalidArgument',
      'the peers suite needs `npm run bench` (bench/run.mjs opens its tabs and reads their CPU and memory)',
    );
  return service;
}

/** One run's figures. */
interface RunFigures {
  writtenEventsPerS: number;
  replicatedEventsPerS: number;
  wireBytesPerEvent: number;
  readerMemoryGrowthMb: number;
  writerUsPerWrite: number;
  cpuUsPerEvent: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One run of `system` in two fresh tabs (`round` names its profiles). */
async function runOnce(system: SystemName, round: number): Promise<RunFigures> {
  const tabs = tabService();
  const run = crypto.randomUUID();
  const control = new BroadcastChannel(controlChannel(run));
  const tabPath = (role: string, extra: Record<string, string> = {}) => {
    const url = new URL('./peers/tab.html', import.meta.url);
    for (const [k, v] of Object.entries({ role, system, run, ...extra })) url.searchParams.set(k, v);
    return `${url.pathname}${url.search}`;
  };
  const opened: number[] = [];
  const open = async (path: string) => {
    const { tab } = (await tabs({ op: 'open', path })) as { tab: number };
    opened.push(tab);
    return tab;
  };
  try {
    const writerReady = nextMessage(control, 'ready', OPEN_LIMIT_MS, 'writer');
    const writerTab = await open(tabPath('writer'));
    const { info } = await writerReady;
    const readerReady = nextMessage(control, 'ready', OPEN_LIMIT_MS, 'reader');
    const readerTab = await open(tabPath('reader', { writer: info }));
    await readerReady;

    const memoryBefore = (await tabs({ op: 'memory', tab: readerTab })) as Memory;
    const cpuBefore = (await tabs({ op: 'cpu', tab: writerTab })) as CpuTimes;
    const readerCpuBefore = (await tabs({ op: 'cpu', tab: readerTab })) as CpuTimes;
    const result = nextMessage(control, 'result', RUN_LIMIT_MS, 'writer');
    const wire = nextMessage(control, 'wire', RUN_LIMIT_MS, 'reader');
    if (profiling) {
      await tabs({ op: 'profile-start', tab: writerTab });
      await tabs({ op: 'profile-start', tab: readerTab });
    }
    control.postMessage({ type: 'go' });
    const { writtenMs, replicatedMs } = await result;
    if (profiling) {
      await tabs({ op: 'profile-stop', tab: writerTab, label: `${system}-r${round}-writer` });
      await tabs({ op: 'profile-stop', tab: readerTab, label: `${system}-r${round}-reader` });
    }
    const { bytes } = await wire;
    const cpuAfter = (await tabs({ op: 'cpu', tab: writerTab })) as CpuTimes;
    const readerCpuAfter = (await tabs({ op: 'cpu', tab: readerTab })) as CpuTimes;
    const processMs = cpuAfter.processMs - cpuBefore.processMs + (readerCpuAfter.processMs - readerCpuBefore.processMs);
    const memoryAfter = (await tabs({ op: 'memory', tab: readerTab })) as Memory;

    // The reader first: were it still open when the writer lets go, it would take the lead (tidal) for nothing.
    await closeTab(control, 'reader');
    await closeTab(control, 'writer');

    const figures: RunFigures = {
      writtenEventsPerS: EVENTS / (writtenMs / 1000),
      replicatedEventsPerS: EVENTS / (replicatedMs / 1000),
      wireBytesPerEvent: bytes / EVENTS,
      readerMemoryGrowthMb: (memoryAfter.bytes - memoryBefore.bytes) / 1e6,
      writerUsPerWrite: ((cpuAfter.taskMs - cpuBefore.taskMs) * 1000) / EVENTS,
      cpuUsPerEvent: (processMs * 1000) / EVENTS,
    };
    const perTarget = memoryAfter.targets.map(
      (t, i) => `${t.type} ${((t.bytes - (memoryBefore.targets[i]?.bytes ?? 0)) / 1e6).toFixed(1)}`,
    );
    console.log(
      `peers: ${system}: written in ${Math.round(writtenMs)} ms, converged after ${Math.round(replicatedMs)} ms, ${bytes} bytes to the reader, ` +
        `reader memory +${figures.readerMemoryGrowthMb.toFixed(1)} MB (${perTarget.join(', ')}), ` +
        `writer main thread ${(cpuAfter.taskMs - cpuBefore.taskMs).toFixed(0)} ms of tasks (${(cpuAfter.scriptMs - cpuBefore.scriptMs).toFixed(0)} ms script), both tabs' processes ${processMs.toFixed(0)} ms of CPU`,
    );
    return figures;
  } finally {
    control.close();
    for (const tab of opened.reverse()) await tabs({ op: 'close', tab }).catch(() => {});
    if (system.startsWith('tidal_')) await deleteDatabase(databaseName(run));
  }
}

/** Asks the `role` tab to shut its system down, and waits until it has. */
async function closeTab(control: BroadcastChannel, role: Role): Promise<void> {
  const closed = nextMessage(control, 'closed', OPEN_LIMIT_MS, role);
  control.postMessage({ type: 'close', role });
  await closed;
}

/**
 * The systems this run measures: the compared ones, or those
 * `TIDAL_BENCH_PEERS` names (the runner passes it as `?peers=`), which may
 * include the shard-count variants (`SHARD_VARIANTS`).
 */
function selectedSystems(): SystemName[] {
  const wanted = new URLSearchParams(location.search).get('peers');
  if (wanted === null || wanted === '') return [...SYSTEMS];
  const names = wanted.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(ALL_SYSTEMS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new TidalError('InvalidArgument', `TIDAL_BENCH_PEERS: unknown system(s) ${unknown.join(', ')}; known: ${ALL_SYSTEMS.join(', ')}`);
  return ALL_SYSTEMS.filter((system) => names.includes(system));
}

/** Deletes a tidal database's OPFS folder `tidal/<name>` once its tabs let go. */
async function deleteDatabase(name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('tidal');
      await root.removeEntry(name, { recursive: true });
      return;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFoundError') return;
      if (attempt >= 20) {
        console.warn(`peers: could not delete OPFS tidal/${name}: ${String(error)}`);
        return;
      }
      await sleep(100);
    }
  }
}

/** Runs every system `ROUNDS` times and reports each figure's median; see the module comment. */
export async function run(report: Report): Promise<void> {
  const figures = new Map<SystemName, RunFigures[]>();
  const failures = new Map<SystemName, string>();
  const skipped = new Map<SystemName, string>();
  const systems = selectedSystems();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const system of systems) {
      if (failures.has(system) || skipped.has(system)) continue;
      try {
        const run = await runOnce(system, round);
        figures.set(system, [...(figures.get(system) ?? []), run]);
      } catch (error) {
        if (error instanceof Unsupported) {
          skipped.set(system, error.message);
          console.log(`peers: ${system} not measured: ${error.message}`);
        } else {
          failures.set(system, error instanceof Error ? error.message : String(error));
          console.error(`peers: ${system} failed in round ${round}: ${failures.get(system)}`);
        }
      }
    }
  }
  for (const system of systems) {
    const runs = figures.get(system);
    if (!runs || failures.has(system)) continue;
    const m = (pick: (f: RunFigures) => number) => median(runs.map(pick));
    report(
      `peers.${system}.written.events_per_s`,
      m((f) => f.writtenEventsPerS),
      'events/s',
    );
    report(
      `peers.${system}.replicated.events_per_s`,
      m((f) => f.replicatedEventsPerS),
      'events/s',
    );
    report(
      `peers.${system}.wire.bytes_per_event`,
      m((f) => f.wireBytesPerEvent),
      'B/event',
    );
    report(
      `peers.${system}.reader.memory_growth.mb`,
      m((f) => f.readerMemoryGrowthMb),
      'MB',
    );
    report(
      `peers.${system}.writer.main_thread.us_per_write`,
      m((f) => f.writerUsPerWrite),
      'µs/write',
    );
    report(
      `peers.${system}.cpu.us_per_event`,
      m((f) => f.cpuUsPerEvent),
      'µs/event',
    );
  }
  if (failures.size > 0) {
    throw new TidalError(
      'Corrupt',
      `peers: ${[...failures].map(([system, error]) => `${system}: ${error}`).join('; ')} (their figures are not reported)`,
    );
  }
}
