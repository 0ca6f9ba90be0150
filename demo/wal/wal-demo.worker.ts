/**
 * The demo's shard worker: it owns one tidal WAL on OPFS (sync access
 * handles exist only in dedicated workers) and lets the page append to it,
 * close and reopen it, and damage its files to watch recovery at work. The
 * page (`main.ts`) reaches it with comlink; every call answers with the
 * WAL's state as plain data.
 *
 * The log lives in OPFS at `tidal-demo/wal/`, so it survives reloads: reload
 * the page and the worker recovers it.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import type { Value } from '../../src/wal/payload.js';
import { Wal, type RecoveryReport } from '../../src/wal/wal.js';
import { MAX_APPEND, type DemoResult, type DemoState } from './protocol.js';

const PATH = ['tidal-demo', 'wal'];
const SHARD = 0;
/** Small segments, so that a few thousand events make several and rolls are easy to watch. */
const SEGMENT_BYTES = 64 * 1024;
const RECENT_EVENTS = 12;
/**
 * Held while this worker has the WAL open, so that a second tab cannot open
 * the same log (tidal's shard leadership works the same way).
 */
const LOCK = 'tidal-demo:wal';

let storage: OpfsStorage | undefined;
let wal: Wal | undefined;
let releaseLock: (() => void) | undefined;

const KINDS = ['view', 'click', 'like', 'share', 'skip'] as const;

function demoEvent(): Value {
  return {
    kind: KINDS[Math.floor(Math.random() * KINDS.length)]!,
    item: `item-${Math.floor(Math.random() * 10_000)}`,
    at: Date.now(),
  };
}

function render(value: Value): string {
  return (
    JSON.stringify(value, (_key, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x)) ??
    String(value)
  );
}

async function folder(): Promise<OpfsStorage> {
  storage ??= await OpfsStorage.open(PATH);
  return storage;
}

function requireOpen(): Wal {
  if (!wal) throw new TidalError('Closed', 'the WAL is closed: press Reopen first');
  return wal;
}

async function recentEvents(log: Wal): Promise<{ lsn: number; text: string }[]> {
  let from = Math.max(1, log.lastLsn - RECENT_EVENTS + 1);
  // Reading inside a gap fails (those LSNs are gone); start after it.
  for (const gap of log.missingRanges()) if (from >= gap.first && from <= gap.last) from = gap.last + 1;
  const recent: { lsn: number; text: string }[] = [];
  if (from > log.lastLsn) return recent;
  for await (const { lsn, event } of log.read(from)) recent.push({ lsn, text: render(event) });
  return recent;
}

async function state(): Promise<DemoState> {
  const files = await (await folder()).list();
  const quarantined: { name: string; bytes: number }[] = [];
  for (const name of files.filter((n) => n.includes('.quarantined-')).sort()) {
    const file = await (await folder()).open(name);
    quarantined.push({ name, bytes: file.size() });
    file.close();
  }
  if (!wal) return { open: false, lastLsn: 0, segments: [], quarantined, missing: [], recent: [] };
  return {
    open: true,
    lastLsn: wal.lastLsn,
    segments: wal
      .segments()
      .map((s) => ({ name: s.id.fileName(), baseLsn: s.baseLsn, lastLsn: s.lastLsn, sealed: s.sealed, bytes: s.bytes })),
    quarantined,
    missing: [...wal.missingRanges()],
    recent: await recentEvents(wal),
  };
}

/** Takes the demo's Web Lock, or refuses at once when another tab holds it. */
async function takeLock(): Promise<void> {
  if (releaseLock) return;
  await new Promise<void>((resolve, reject) => {
    navigator.locks
      .request(LOCK, { ifAvailable: true }, (lock) => {
        if (!lock) {
          reject(
            new TidalError('StorageError', 'another tab has the demo WAL open: close it there (or close that tab), then press Reopen'),
          );
          return undefined;
        }
        return new Promise<void>((release) => {
          releaseLock = release;
          resolve();
        });
      })
      .catch(reject);
  });
}

function dropLock(): void {
  releaseLock?.();
  releaseLock = undefined;
}

async function openWal(): Promise<{ report: RecoveryReport; ms: number }> {
  await takeLock();
  const started = performance.now();
  try {
    const opened = await Wal.open(await folder(), { shard: SHARD, segmentBytes: SEGMENT_BYTES });
    wal = opened.wal;
    return { report: opened.report, ms: performance.now() - started };
  } catch (error) {
    dropLock();
    throw error;
  }
}

/** Closes the WAL; `keepLock` keeps other tabs out while this one changes the files. */
async function closeWal(keepLock = false): Promise<void> {
  const open = wal;
  wal = undefined;
  try {
    await open?.close();
  } finally {
    if (!keepLock) dropLock();
  }
}

/** Closes the WAL, lets `damage` change its files, and reopens it so that recovery shows what it made of it. */
async function damageAndRecover(damage: (log: Wal) => Promise<string>): Promise<DemoResult> {
  const log = requireOpen();
  const what = await damage(log);
  const { report, ms } = await openWal();
  return { message: `${what}; reopened, recovery took ${ms.toFixed(1)} ms`, ms, report, state: await state() };
}

const api = {
  /** Opens (recovering) the demo's WAL; the page calls it once on load. */
  async open(): Promise<DemoResult> {
    if (wal) return { message: 'already open', ms: 0, state: await state() };
    const { report, ms } = await openWal();
    return { message: `opened ${(await folder()).description}, recovery took ${ms.toFixed(1)} ms`, ms, report, state: await state() };
  },

  /** Appends `count` generated events in one call (one batch, one flush). */
  async append(count: number): Promise<DemoResult> {
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_APPEND) {
      throw new TidalError('InvalidArgument', `append between 1 and ${MAX_APPEND} events, not ${count}`);
    }
    const log = requireOpen();
    const events = Array.from({ length: count }, demoEvent);
    const started = performance.now();
    const range = await log.append(events);
    const ms = performance.now() - started;
    return {
      message: `appended ${count} event${count === 1 ? '' : 's'}: LSNs ${range.first}..${range.last} in ${ms.toFixed(1)} ms`,
      ms,
      state: await state(),
    };
  },

  /** Closes the WAL (every handle released). */
  async close(): Promise<DemoResult> {
    await closeWal();
    return { message: 'closed', ms: 0, state: await state() };
  },

  /** Closes the WAL if open, and opens it again: recovery runs and reports. */
  async reopen(): Promise<DemoResult> {
    await closeWal();
    const { report, ms } = await openWal();
    return { message: `reopened, recovery took ${ms.toFixed(1)} ms`, ms, report, state: await state() };
  },

  /**
   * Tears the last batch of the open segment in half, as a crash in the
   * middle of its write would, then reopens: recovery cuts the torn tail.
   */
  tearTail(): Promise<DemoResult> {
    return damageAndRecover(async (log) => {
      const last = log.segments().at(-1);
      if (!last || last.sealed || last.lastLsn < last.baseLsn)
        throw new TidalError('InvalidArgument', 'the last segment has no batch to tear: append first');
      let lastBatch: { bytes: number; first: number; last: number } | undefined;
      for await (const batch of log.readBatches(last.lastLsn))
        lastBatch = { bytes: batch.bytes.length, first: batch.firstLsn, last: batch.lastLsn };
      if (!lastBatch) throw new TidalError('Corrupt', `no batch holds LSN ${last.lastLsn}`);
      await closeWal(true);
      const start = last.bytes - lastBatch.bytes;
      const file = await (await folder()).open(last.id.fileName());
      try {
        file.truncate(start + Math.floor(lastBatch.bytes / 2));
        file.flush();
      } finally {
        file.close();
      }
      return `tore the batch of LSNs ${lastBatch.first}..${lastBatch.last} in ${last.id.fileName()} (kept ${Math.floor(lastBatch.bytes / 2)} of its ${lastBatch.bytes} bytes)`;
    });
  },

  /**
   * Flips one byte in the middle of the newest sealed segment, then reopens:
   * its footer digest fails, so recovery quarantines it and reports the
   * LSNs it held as missing.
   */
  corruptSealed(): Promise<DemoResult> {
    return damageAndRecover(async (log) => {
      const sealed = log
        .segments()
        .filter((s) => s.sealed)
        .at(-1);
      if (!sealed) throw new TidalError('InvalidArgument', 'no segment is sealed yet: append until one rolls over');
      await closeWal(true);
      const at = Math.floor(sealed.bytes / 2);
      const file = await (await folder()).open(sealed.id.fileName());
      try {
        const byte = new Uint8Array(1);
        file.read(byte, at);
        byte[0] = byte[0]! ^ 0xff;
        file.write(byte, at);
        file.flush();
      } finally {
        file.close();
      }
      return `flipped byte ${at} of sealed ${sealed.id.fileName()} (LSNs ${sealed.baseLsn}..${sealed.lastLsn})`;
    });
  },

  /** Deletes the whole log and opens a fresh, empty one. */
  async reset(): Promise<DemoResult> {
    await closeWal(true);
    storage = undefined;
    await OpfsStorage.destroy(PATH);
    const { report, ms } = await openWal();
    return { message: 'deleted the log and opened a fresh one', ms, report, state: await state() };
  },
};

/** The API the demo page reaches over comlink. */
export type WalDemoWorker = typeof api;

Comlink.expose(api);
