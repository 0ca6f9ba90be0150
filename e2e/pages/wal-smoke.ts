/**
 * The WAL smoke page. It exposes `window.walSmoke`, which
 * `e2e/wal-smoke.spec.ts` drives with `page.evaluate`: each call starts a
 * dedicated module worker (`wal-smoke.worker.ts`) that owns the WAL on OPFS,
 * as a shard worker will, and hands back what it found as plain data.
 *
 * ```ts
 * await page.goto('/e2e/pages/wal-smoke.html');
 * await page.waitForFunction(() => 'walSmoke' in window);
 * const written = await page.evaluate(() => window.walSmoke.write('db1', { events: 3000, segmentBytes: 16384, close: true }));
 * ```
 */
import * as Comlink from 'comlink';
import type { VerifySummary, WalSmokeWorkerApi, WriteSummary } from './wal-smoke.worker.js';

export type { SegmentSummary, ReportSummary, VerifySummary, WriteSummary } from './wal-smoke.worker.js';

/** The calls the smoke page exposes on `window.walSmoke`. */
export interface WalSmoke {
  /**
   * Writes `events` events to database `db` in a new worker. With `close`
   * the WAL is closed and the worker ended; without it, the worker keeps the
   * WAL open until the page goes away (a reload mid-session).
   */
  write(db: string, options: { events: number; segmentBytes: number; close: boolean }): Promise<WriteSummary>;
  /** Recovers `db` in a new worker, reads every event back, compares, appends one more, closes. */
  reopenAndVerify(db: string, options: { events: number; segmentBytes: number }): Promise<VerifySummary>;
  /** Deletes `db`'s OPFS folder (closing a WAL `write` left open in this page). */
  destroy(db: string): Promise<void>;
}

declare global {
  interface Window {
    /** Set once the page has loaded; wait for `'walSmoke' in window`. */
    walSmoke: WalSmoke;
  }
}

interface WorkerSession {
  worker: Worker;
  api: Comlink.Remote<WalSmokeWorkerApi>;
  /** Rejects when the worker fails to load or throws outside a call. */
  failed: Promise<never>;
}

function startWorker(): WorkerSession {
  const worker = new Worker(new URL('./wal-smoke.worker.ts', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => reject(new Error(`wal-smoke worker failed: ${event.message}`)));
  });
  failed.catch(() => {}); // may reject while no call is waiting
  return { worker, api: Comlink.wrap<WalSmokeWorkerApi>(worker), failed };
}

/** Runs `call` in a fresh worker, ending the worker afterwards unless `keep` says otherwise. */
async function inWorker<T>(
  call: (api: Comlink.Remote<WalSmokeWorkerApi>) => Promise<T>,
  keep: (result: T) => boolean = () => false,
): Promise<T> {
  const session = startWorker();
  let result: T | undefined;
  try {
    result = await Promise.race([call(session.api), session.failed]);
    return result;
  } finally {
    if (result === undefined || !keep(result)) {
      session.api[Comlink.releaseProxy]();
      session.worker.terminate();
    } else {
      kept.push(session);
    }
  }
}

/** Workers that still hold an open WAL, until `destroy` or the page goes away. */
const kept: WorkerSession[] = [];

const walSmoke: WalSmoke = {
  write: (db, options) =>
    inWorker(
      (api) => api.write(db, options),
      () => !options.close,
    ),

  reopenAndVerify: (db, options) => inWorker((api) => api.reopenAndVerify(db, options)),

  async destroy(db) {
    for (const session of kept.splice(0)) {
      await session.api.destroy(db);
      session.api[Comlink.releaseProxy]();
      session.worker.terminate();
    }
    await inWorker((api) => api.destroy(db));
  },
};

window.walSmoke = walSmoke;
const status = document.getElementById('status');
if (status) status.textContent = 'ready';
