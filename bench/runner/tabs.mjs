// Tabs for suites that need more than the bench page: the peers suite opens
// a writer and a reader tab of the same browser context (separate renderer
// processes, the same origin's OPFS, locks and BroadcastChannels) and asks
// what their main threads and heaps did, through the Chrome DevTools
// Protocol, which only the runner can reach.
//
// The page calls `window.__tidalBenchTabs(request)` (a Playwright binding):
//   { op: 'open', path }  → { tab }           path under /bench/ on the bench server
//   { op: 'cpu', tab }    → { taskMs, scriptMs, threadMs, processMs }  CPU time so far
//   { op: 'memory', tab } → { bytes, targets: [{ type, url, bytes }] }  after a forced GC in each
//   { op: 'close', tab }  → {}
//   { op: 'profile-start', tab }         → {}  CPU profiles start in the tab's page and every worker
//   { op: 'profile-stop', tab, label }   → { summary }  profiles stopped, written, summarized
//
// Tab 0 is the bench page itself (`adoptPage`, in a `--profile` run only),
// for suites that profile the workers they start in it (the open suite's
// shard workers). Workers it starts while a profile runs are profiled from
// their first instruction: they wait for the debugger on start
// (`waitForDebuggerOnStart`), get their profiler started, then run.
//
// `cpu` is CDP Performance.getMetrics with thread-time ticks: TaskDuration
// (all tasks on the tab's main thread), ScriptDuration (JavaScript among
// them), ThreadTime (the main thread's CPU time) and ProcessTime (the CPU
// time of the tab's renderer process: its main thread and its dedicated
// workers, which run in that process). `memory` forces a
// garbage collection (HeapProfiler.collectGarbage) in the page and in every
// dedicated worker it started, then sums Runtime.getHeapUsage: the JS heap,
// Blink's garbage-collected heap and ArrayBuffer backing stores. Workers
// are reached by auto-attaching to the page target without flattening
// (Target.sendMessageToTarget): Playwright's CDPSession cannot address a
// child session, and workers have no performance.memory.
//
// Profiles (only when the runner was started with `--profile`): CDP
// Profiler.start in the page and in each of its dedicated workers (the
// shard workers), at the sampling interval the runner chose;
// `profile-stop` writes one `<label>-<thread>.cpuprofile` per thread
// (loadable in DevTools' Performance panel) into the run's profile folder,
// appends the per-thread summary (bench/runner/cpu-profile.mjs) to its
// summary.txt and returns that text.

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatSummary, summarizeProfile } from './cpu-profile.mjs';

const CALL_TIMEOUT_MS = 15_000;
/** Profiler.stop hands back megabytes of JSON from a busy worker. */
const PROFILE_TIMEOUT_MS = 60_000;
const MAX_TABS = 8;

/** The tabs one run opened, by id. */
export class TabService {
  #context;
  #origin;
  #onError;
  #tabs = new Map();
  #nextTab = 1;
  #profiles;
  /** Tab 0: the bench page (`adoptPage`), never closed here. */
  #page;

  /**
   * @param context the Playwright BrowserContext of the bench page
   * @param origin the bench server's origin, `http://127.0.0.1:<port>`
   * @param onError called with a message for every uncaught error in a tab (it fails the running suite)
   * @param profiles `{ dir, intervalUs }` to allow CPU profiles (written into `dir`), or undefined (the default) to refuse them
   */
  constructor(context, origin, onError, profiles) {
    this.#context = context;
    this.#origin = origin;
    this.#onError = onError;
    this.#profiles = profiles;
  }

  /** Makes `page` (the bench page, before it loads) tab 0, whose workers are profiled from their start while a profile runs. */
  async adoptPage(page) {
    this.#page = await ProbedTab.attach(this.#context, page, { followNewWorkers: true });
  }

  /** Answers one request of the page (see the module comment); throws, so the page's promise rejects, on a bad one. */
  async handle(request) {
    if (request === null || typeof request !== 'object') throw new Error('tab request must be an object');
    switch (request.op) {
      case 'open':
        return this.#open(request.path);
      case 'cpu':
        return this.#tab(request.tab).cpu();
      case 'memory':
        return this.#tab(request.tab).memory();
      case 'profile-start':
        return this.#tab(request.tab).profileStart(this.#profileSettings().intervalUs);
      case 'profile-stop': {
        const { dir } = this.#profileSettings();
        if (typeof request.label !== 'string' || !/^[A-Za-z0-9_.-]{1,80}$/.test(request.label))
          throw new Error(`profile label ${JSON.stringify(request.label)} must be 1..80 of A-Z a-z 0-9 _ . -`);
        const threads = await this.#tab(request.tab).profileStop();
        await mkdir(dir, { recursive: true });
        const parts = [];
        for (const { thread, profile } of threads) {
          const name = `${request.label}-${thread.replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
          await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
          parts.push(formatSummary(`${request.label} ${thread}`, summarizeProfile(profile)));
        }
        const summary = parts.join('\n\n');
        await appendFile(join(dir, 'summary.txt'), `${summary}\n\n`);
        console.log(summary);
        return { summary };
      }
      case 'close': {
        const tab = this.#tab(request.tab);
        this.#tabs.delete(request.tab);
        await tab.close();
        return {};
      }
      default:
        throw new Error(`unknown tab request ${JSON.stringify(request.op)}`);
    }
  }

  /** Closes every tab still open. */
  async closeAll() {
    const tabs = [...this.#tabs.values()];
    this.#tabs.clear();
    await Promise.all(tabs.map((tab) => tab.close().catch(() => {})));
  }

  #profileSettings() {
    if (this.#profiles === undefined) throw new Error('CPU profiles need `npm run bench -- <suite> --profile`');
    return this.#profiles;
  }

  #tab(id) {
    if (id === 0 && this.#page !== undefined) return this.#page;
    const tab = this.#tabs.get(id);
    if (tab === undefined) throw new Error(`no open tab ${JSON.stringify(id)}`);
    return tab;
  }

  async #open(path) {
    if (typeof path !== 'string' || !path.startsWith('/bench/') || path.includes('..'))
      throw new Error(`tab path ${JSON.stringify(path)} must be a path under /bench/`);
    if (this.#tabs.size >= MAX_TABS) throw new Error(`already ${MAX_TABS} tabs open: close some first`);
    const id = this.#nextTab++;
    const page = await this.#context.newPage();
    const label = `tab ${id} (${path.split('?')[0]})`;
    page.on('pageerror', (error) => this.#onError(`${label}: ${error.message}`));
    page.on('crash', () => this.#onError(`${label} crashed`));
    page.on('console', (message) => {
      const type = message.type();
      if (type === 'error' || type === 'warning') console.log(`[${label} ${type}] ${message.text()}`);
      else if (process.env.TIDAL_BENCH_VERBOSE === '1') console.log(`[${label}] ${message.text()}`);
    });
    try {
      const tab = await ProbedTab.attach(this.#context, page);
      this.#tabs.set(id, tab);
      await page.goto(`${this.#origin}${path}`);
      return { tab: id };
    } catch (error) {
      this.#tabs.delete(id);
      await page.close().catch(() => {});
      throw error;
    }
  }
}

/** A tab with a CDP session on its page and on each of its dedicated workers. */
class ProbedTab {
  #page;
  #cdp;
  /** sessionId → the worker's `{ url, title }` (title: the name it was started with), while attached. */
  #workers = new Map();
  #pending = new Map();
  #nextCall = 1;
  /** The worker sessions profiling now. */
  #profiled = [];
  /** A profile runs: workers that attach now are profiled too (with `followNewWorkers`). */
  #profiling = false;
  #intervalUs = 0;

  constructor(page, cdp) {
    this.#page = page;
    this.#cdp = cdp;
  }

  /**
   * `followNewWorkers`: workers wait for the debugger on start, so that one
   * started while a profile runs is profiled from its first instruction.
   */
  static async attach(context, page, { followNewWorkers = false } = {}) {
    const cdp = await context.newCDPSession(page);
    const tab = new ProbedTab(page, cdp);
    cdp.on('Target.attachedToTarget', (e) => {
      if (e.targetInfo.type === 'worker') tab.#workers.set(e.sessionId, { url: e.targetInfo.url, title: e.targetInfo.title });
      if (e.waitingForDebugger) void tab.#resume(e.sessionId, e.targetInfo.type === 'worker');
    });
    cdp.on('Target.detachedFromTarget', (e) => tab.#workers.delete(e.sessionId));
    cdp.on('Target.receivedMessageFromTarget', (e) => tab.#receive(e.message));
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: followNewWorkers, flatten: false });
    return tab;
  }

  /** Lets a target that waits for the debugger run, its profiler started first if a profile runs. */
  async #resume(session, worker) {
    try {
      if (worker && this.#profiling) {
        await this.#startProfiler((method, params) => this.#call(session, method, params), this.#intervalUs);
        this.#profiled.push(session);
      }
    } finally {
      await this.#call(session, 'Runtime.runIfWaitingForDebugger').catch(() => {});
    }
  }

  async #startProfiler(send, intervalUs) {
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: intervalUs });
    await send('Profiler.start');
  }

  async cpu() {
    const { metrics } = await this.#cdp.send('Performance.getMetrics');
    const seconds = (name) => {
      const metric = metrics.find((m) => m.name === name);
      if (metric === undefined) throw new Error(`Performance.getMetrics has no ${name}`);
      return metric.value;
    };
    return {
      taskMs: seconds('TaskDuration') * 1000,
      scriptMs: seconds('ScriptDuration') * 1000,
      threadMs: seconds('ThreadTime') * 1000,
      processMs: seconds('ProcessTime') * 1000,
    };
  }

  async memory() {
    const targets = [];
    await this.#cdp.send('HeapProfiler.collectGarbage');
    targets.push({ type: 'page', url: this.#page.url(), bytes: heapBytes(await this.#cdp.send('Runtime.getHeapUsage')) });
    for (const [session, { url }] of [...this.#workers]) {
      await this.#call(session, 'HeapProfiler.collectGarbage');
      targets.push({ type: 'worker', url, bytes: heapBytes(await this.#call(session, 'Runtime.getHeapUsage')) });
    }
    return { bytes: targets.reduce((sum, t) => sum + t.bytes, 0), targets };
  }

  /** Starts a CPU profile, sampling every `intervalUs`, in the page and in every worker attached now. */
  async profileStart(intervalUs) {
    this.#profiled = [...this.#workers.keys()];
    this.#intervalUs = intervalUs;
    this.#profiling = true;
    await this.#startProfiler((method, params) => this.#cdp.send(method, params), intervalUs);
    for (const session of [...this.#profiled]) {
      // A worker that ended a moment ago may not have been detached yet: nothing of it to profile.
      await this.#startProfiler((method, params) => this.#call(session, method, params), intervalUs).catch(() => {
        this.#profiled = this.#profiled.filter((s) => s !== session);
      });
    }
    return {};
  }

  /** Stops the profiles `profileStart` started: `[{ thread, profile }]`, the page's first (`main`), then each worker by name. */
  async profileStop() {
    this.#profiling = false;
    const threads = [{ thread: 'main', profile: (await this.#cdp.send('Profiler.stop')).profile }];
    const seen = new Map();
    for (const session of this.#profiled.splice(0)) {
      const worker = this.#workers.get(session);
      if (worker === undefined) continue; // it ended while profiled: its samples went with it
      const { profile } = await this.#call(session, 'Profiler.stop', {}, PROFILE_TIMEOUT_MS);
      const base = worker.title || worker.url.split('/').pop() || 'worker';
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      threads.push({ thread: n === 1 ? base : `${base}#${n}`, profile });
    }
    return threads;
  }

  async close() {
    for (const { reject } of this.#pending.values()) reject(new Error('the tab was closed'));
    this.#pending.clear();
    await this.#page.close();
  }

  /** One CDP command to a worker's session, through its page's session. */
  #call(sessionId, method, params = {}, timeoutMs = CALL_TIMEOUT_MS) {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method} in worker ${this.#workers.get(sessionId)?.url} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch((error) => {
        this.#pending.get(id)?.reject(error);
        this.#pending.delete(id);
      });
    });
  }

  #receive(text) {
    const message = JSON.parse(text);
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return; // an event, or an answer nobody waits for any more
    this.#pending.delete(message.id);
    if (message.error) pending.reject(new Error(`CDP: ${message.error.message}`));
    else pending.resolve(message.result);
  }
}

/** What Runtime.getHeapUsage says a realm holds: JS heap, Blink's heap, ArrayBuffer backing stores. */
function heapBytes(usage) {
  return usage.usedSize + (usage.embedderHeapUsedSize ?? 0) + (usage.backingStorageSize ?? 0);
}
