// Uses the public API with its types spelled out, so that a type missing from the package root, or a
// declaration that does not check under these flags, fails `tsc`.
import { isTidalError, openTidal, TidalError } from 'tidal';
import type {
  Change,
  Entity,
  OpenTidalOptions,
  ReadOptions,
  ShardStats,
  TidalDb,
  TidalDebug,
  TidalErrorCode,
  TidalStats,
  Value,
  WriteOptions,
  WriteToken,
} from 'tidal';

const options: OpenTidalOptions = {
  name: 'typed',
  shards: 2,
  durability: 'flush',
  createWorker: (shard) => new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: `typed shard ${shard}` }),
};
const db: TidalDb = await openTidal(options);

const once: WriteOptions = { idempotencyKey: 'order-7' };
const token: WriteToken = await db.increment('item:42', 'click', 1, once);
const value: Value = { tags: ['a', 'b'], at: 1n, bytes: new Uint8Array([1]) };
await db.set('item:42', 'meta', value);
await db.add('user:me', 'seen', 'item:42');

const read: ReadOptions = { after: token, timeoutMs: 1000 };
const item: Entity | undefined = await db.get('item:42', read);
const clicks: number | undefined = item?.counters['click'];
const rows: { key: string; entity: Entity }[] = await db.scan('item:', { limit: 10 });

const stop: () => void = db.subscribe('item:', (change: Change) => console.log(change.key, change.lsn, change.entity?.fields['meta']));
const stats: TidalStats = await db.stats();
const first: ShardStats | undefined = stats.shards[0];
console.log(clicks, rows.length, first?.role, first?.bytesVerified);
stop();
const debug: TidalDebug | undefined = db.debug;
if (debug) await debug.corruptNextPayload(0);

try {
  await db.set('', 'x', 1);
} catch (error) {
  if (isTidalError(error, 'InvalidArgument')) {
    const code: TidalErrorCode = error.code;
    console.log(code, error.message);
  } else if (error instanceof TidalError) {
    throw error;
  }
}
await db.close();
