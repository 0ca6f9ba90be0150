/**
 * `openTidal`: opens a database in a page. Behind the returned `TidalDb`
 * (`database.ts`): one module Worker per shard (a `ShardHost`, over
 * comlink), leadership of each shard across the origin's tabs with Web
 * Locks (`leader-lock.ts`), one `SessionWriter` per shard for exactly-once
 * writes (with `tick-batcher.ts`), and a supervisor that restarts a worker
 * that dies or stops answering and takes the lead from a leader tab that
 * went silent (`worker-supervisor.ts`).
 *
 *     const db = await openTidal({ name: 'forage' });
 *     await db.increment('item:1', 'click');
 *
 * Writes issued in the same tick travel together: one message per shard
 * per tick, one WAL batch on the leader.
 */
import { systemClock } from '../common/clock.js';
import type { OpenTidalOptions, TidalDb } from './api.js';
import { installTidalErrorHandler } from './comlink-errors.js';
import { Database } from './database.js';
import { resolveOptions } from './open-options.js';
import { resolveSyncOptions } from '../sync/sync-options.js';

/** Opens (creating as needed) the database `options.name` in this page. */
export async function openTidal(options: OpenTidalOptions): Promise<TidalDb> {
  installTidalErrorHandler();
  const resolved = resolveOptions(options);
  const sync = options.sync === undefined ? undefined : await resolveSyncOptions(options.sync, resolved.name);
  const db = new Database({ ...resolved, sync }, systemClock);
  await db.start();
  // A newer tidal leads this database already: this tab stepped aside as it opened (`VersionSkew`).
  if (db.superseded) throw db.superseded;
  return db;
}
