/**
 * Lock terms: the number each grant of a shard's Web Lock gets, one more
 * than any grant before it in any tab, so that leaders can tell the newer
 * of two apart (`leadership.ts`). The count is kept in OPFS, in the
 * database's folder beside the shard's log, and read and bumped while the
 * lock is held: the lock serialises grants, and OPFS (one store behind the
 * browser process) answers every renderer alike. localStorage, where terms
 * were kept before, is synced between renderers late: a tab could read a
 * stale count and take a term another tab already held (two leaders of one
 * term, neither stepping down: bench/README.md, Soak, seed 648).
 *
 *     // inside the lock's callback
 *     slot.term = await takeLockTerm({ db: 'forage', shard: 3, legacyKey: shardChannels('forage', 3).term, clock });
 *
 * Each term is an empty file `<shard as 4 hex digits>-<term as 16 hex
 * digits>.term`; the count is the largest name. A tab that read the count
 * and then stalled (its lock taken meanwhile) and writes its term late can
 * only add a smaller name, never lower the count, as rewriting one file
 * could. Older names are removed once a newer one is written.
 * localStorage is still read and written, so that a tab of an older tidal
 * (which reads only localStorage) and this one never share a term.
 */
import type { Clock } from '../common/clock.js';
import type { ShardId } from '../shard/shard-id.js';

/** The OPFS folder of database `db` (the one its logs and snapshots are in). */
export function databaseFolder(db: string): readonly string[] {
  return ['tidal', db];
}

const TERM_NAME = /^([0-9a-f]{4})-([0-9a-f]{16})\.term$/;

/** The file name that records term `term` of shard `shard`, e.g. `0003-0000000000000007.term`. */
export function termFileName(shard: ShardId, term: number): string {
  return `${shard.toString(16).padStart(4, '0')}-${term.toString(16).padStart(16, '0')}.term`;
}

/** What `takeLockTerm` needs. */
export interface LockTermOptions {
  readonly db: string;
  readonly shard: ShardId;
  /** The localStorage key of the shard's terms (`shardChannels(db, shard).term`). */
  readonly legacyKey: string;
  /** Stands in when neither OPFS nor localStorage can be used. */
  readonly clock: Clock;
}

interface TermDirectory {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<TermDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<unknown>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterableIterator<string>;
}

/**
 * The term of a grant of the shard's lock: one more than any recorded in
 * OPFS or localStorage, recorded in both before it is returned. Call it only
 * while holding the lock. Without OPFS (or when it fails), localStorage
 * alone; without either, the clock.
 */
export async function takeLockTerm(options: LockTermOptions): Promise<number> {
  const { db, shard, legacyKey, clock } = options;
  const legacy = readLegacy(legacyKey);
  let next: number | undefined;
  try {
    const dir = await openFolder(db);
    if (dir) {
      const prefix = `${shard.toString(16).padStart(4, '0')}-`;
      const held: string[] = [];
      let newest = 0;
      for await (const name of dir.keys()) {
        const match = TERM_NAME.exec(name);
        if (!match || !name.startsWith(prefix)) continue;
        held.push(name);
        newest = Math.max(newest, Number.parseInt(match[2]!, 16));
      }
      next = Math.max(newest, legacy ?? 0) + 1;
      await dir.getFileHandle(termFileName(shard, next), { create: true });
      // Best effort: a name left behind is only read past.
      for (const name of held) await dir.removeEntry(name).catch(() => undefined);
    }
  } catch (error) {
    console.warn(`tidal: shard ${shard}'s lock term could not be kept in OPFS; using localStorage`, error);
    next = undefined;
  }
  next ??= legacy === undefined ? undefined : legacy + 1;
  if (next === undefined) return clock.now();
  writeLegacy(legacyKey, next);
  return next;
}

async function openFolder(db: string): Promise<TermDirectory | undefined> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') return undefined;
  let dir = (await navigator.storage.getDirectory()) as unknown as TermDirectory;
  for (const part of databaseFolder(db)) dir = await dir.getDirectoryHandle(part, { create: true });
  return dir;
}

/** The term localStorage holds (0 when none), or `undefined` when localStorage cannot be used. */
function readLegacy(key: string): number | undefined {
  try {
    return Math.max(Number(localStorage.getItem(key)) || 0, 0);
  } catch {
    return undefined;
  }
}

function writeLegacy(key: string, term: number): void {
  try {
    localStorage.setItem(key, String(term));
  } catch {
    // localStorage is not available: OPFS keeps the count.
  }
}
