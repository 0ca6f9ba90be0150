/**
 * The Sync panel's words, from `db.sync.stats()` (docs/SYNC.md §8): when the
 * last round completed, objects and bytes up and down, what is pending, and
 * every error in words (a failed round, refused objects, a fenced uploader,
 * shards another tab syncs). A pure function of the stats, so the panel's
 * rendering is tested without a page (sync-status.test.ts).
 *
 *     const status = describeSync(await db.sync.stats(), Date.now());
 *     status.rows; // [{ name: 'last sync', value: '2 min ago' }, { name: 'up', value: '14 objects, 18.2 KiB' }, ...]
 */
import type { TidalSyncStats } from '../../../src/index.js';
import { ago, formatBytes } from './messages.js';

/** What the panel shows. */
export interface SyncStatus {
  /** `'ok'`: every shard this tab leads synced and none failed; `'waiting'`: no round yet; `'error'`: see `errors`. */
  readonly state: 'ok' | 'waiting' | 'error';
  readonly rows: readonly { readonly name: string; readonly value: string }[];
  /** Each problem, in words, naming its shard. */
  readonly errors: readonly string[];
  /** Facts that are not problems (shards another tab syncs). */
  readonly notes: readonly string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

/** The panel's content for `stats` at time `now` (ms). */
export function describeSync(stats: TidalSyncStats, now: number): SyncStatus {
  const led = stats.shards.filter((s) => s.led);
  const others = stats.shards.filter((s) => !s.led).map((s) => s.shard);
  const errors: string[] = [];
  for (const shard of led) {
    if (shard.lastError) {
      const retry =
        shard.nextAt === undefined ? '' : `; next try ${shard.nextAt <= now ? 'now' : `in ${Math.ceil((shard.nextAt - now) / 1000)} s`}`;
      const failures = shard.failures > 1 ? ` (${shard.failures} rounds in a row)` : '';
      errors.push(`shard ${shard.shard}: ${describeError(shard.lastError)}${failures}${retry}`);
    }
    for (const [code, count] of Object.entries(shard.refused).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (count > 0)
        errors.push(`shard ${shard.shard}: ${plural(count, 'object')} refused (${refusalWords(code)}); nothing of them applied`);
    }
    if (shard.fenced) errors.push(`shard ${shard.shard}: a newer uploader took over this device's log; this tab no longer uploads it`);
  }
  const rows = [
    { name: 'last sync', value: stats.lastSyncAt === undefined ? (led.length === 0 ? '—' : 'not yet') : ago(stats.lastSyncAt, now) },
    { name: 'up', value: `${plural(stats.objectsUp, 'object')}, ${formatBytes(stats.bytesUp)}` },
    { name: 'down', value: `${plural(stats.objectsDown, 'object')}, ${formatBytes(stats.bytesDown)}` },
    { name: 'pending', value: stats.pendingLsns === 0 ? 'nothing' : `${plural(stats.pendingLsns, 'change')} not uploaded yet` },
  ];
  const notes =
    others.length === 0
      ? []
      : [
          led.length === 0
            ? 'another open tab syncs this database; its figures are there'
            : `${plural(others.length, 'shard')} (${others.join(', ')}) synced by another open tab; figures here are for the rest`,
        ];
  const state = errors.length > 0 ? 'error' : led.length > 0 && stats.lastSyncAt === undefined ? 'waiting' : 'ok';
  return { state, rows, errors, notes };
}

/** A round's failure in words: what the code means for the user, then the message. */
export function describeError(error: { readonly code: string; readonly message: string }): string {
  const message = error.message.replace(/^[A-Z][A-Za-z]+: /, '');
  switch (error.code) {
    case 'Unreachable':
      return /HTTP 40[13]\b/.test(message)
        ? `the bucket refused this access key (${message})`
        : `the bucket cannot be reached (${message})`;
    case 'DecryptionFailed':
      return `an object does not open with this key: is the passphrase or account the same as on your other devices? (${message})`;
    case 'WriterFenced':
      return `another tab or device took over uploading (${message})`;
    default:
      return `${error.code}: ${message}`;
  }
}

function refusalWords(code: string): string {
  switch (code) {
    case 'DecryptionFailed':
      return 'they do not open with this key';
    case 'ObjectMismatch':
      return 'their names do not match their bytes';
    case 'RolledBack':
      return 'a device went back in time';
    default:
      return code;
  }
}
