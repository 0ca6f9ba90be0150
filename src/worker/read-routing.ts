/**
 * Read routing on the main thread: `db.get` goes to the worker of the
 * key's shard, `db.scan` to every shard's worker, each read ordered after
 * what this tab's session has seen on that shard (read-your-writes, and
 * reads that never go back in time, across leader changes too). The LSN a
 * replica answered at is remembered by the shard's `SessionWriter`.
 */
import { sleep, type Clock } from '../common/clock.js';
import { TidalError, isTidalError } from '../common/errors.js';
import type { ShardRouter } from '../shard/router.js';
import type { WriteToken } from '../session/write.js';
import type { Entity, ReadOptions } from './api.js';
import { entitiesFromColumns } from './entity.js';
import type { ShardSlot } from './shard-slot.js';

/** The most rows one `scan` may ask for. */
export const MAX_SCAN = 10_000;
/** How often a read waiting on a worker looks whether the worker was replaced. */
const REPLACED_POLL_MS = 50;
/** What the main thread allows beyond a read's own bound for the answer to cross from the worker. */
const ANSWER_MARGIN_MS = 1000;

/** What reads need of the database: its shards, how keys route, the clock and the default timeout. */
export interface ReadRoute {
  readonly slots: readonly ShardSlot[];
  readonly router: ShardRouter;
  readonly clock: Clock;
  readonly requestTimeoutMs: number;
}

/**
 * What a read must wait for on `slot`'s replica: the caller's token, or
 * else the highest LSN this tab's session has seen on that shard (its
 * own writes, and what its earlier reads saw).
 */
function readAfter(slot: ShardSlot, after: WriteToken | undefined): WriteToken | undefined {
  const given = after && after.shard === slot.shard ? after.lsn : 0;
  const lsn = Math.max(slot.writer.lastSeenLsn, given);
  return lsn > 0 ? { shard: slot.shard, lsn } : undefined;
}

/**
 * Asks `slot`'s worker (`ask(host, timeoutMs)`), and asks again the worker
 * that replaces it when it is replaced before it answers (killed or hung,
 * see `WorkerSupervisor`; a new worker refuses with `Closed` until it is
 * set up): a read outlives the worker it was sent to, within its bound.
 * `Timeout` past `timeoutMs` (and the margin for the answer to cross).
 */
async function askShard<T>(
  route: ReadRoute,
  slot: ShardSlot,
  ask: (host: ShardSlot['host'], timeoutMs: number) => Promise<T>,
  timeoutMs: number,
): Promise<T> {
  const { clock } = route;
  const deadline = clock.now() + timeoutMs;
  let replaced = 0;
  for (;;) {
    const worker = slot.worker;
    const left = Math.max(1, deadline - clock.now());
    let settled = false;
    const answer = ask(slot.host, left).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    // Resolves when the worker asked is replaced (or `left` and the margin ran out), unless it answered first.
    const watch = (async () => {
      const until = clock.now() + left + ANSWER_MARGIN_MS;
      while (!settled && slot.worker === worker && clock.now() < until) await sleep(clock, REPLACED_POLL_MS);
      return slot.worker === worker ? 'timeout' : 'replaced';
    })();
    const outcome = await Promise.race([answer, watch]);
    settled = true;
    if (typeof outcome === 'object') {
      if (!('error' in outcome)) return outcome.value;
      // A worker that is being set up (or one replaced meanwhile) refuses with Closed: the next one answers.
      const restarting = slot.restarting !== undefined || slot.worker !== worker;
      if (!isTidalError(outcome.error, 'Closed') || !restarting || clock.now() >= deadline) throw outcome.error;
      await sleep(clock, REPLACED_POLL_MS);
    } else if (outcome === 'timeout' || clock.now() >= deadline) {
      const why = replaced > 0 ? ` (its worker was replaced ${replaced} time(s) meanwhile)` : '';
      throw new TidalError('Timeout', `shard ${slot.shard} did not answer within ${timeoutMs + ANSWER_MARGIN_MS} ms${why}`);
    }
    replaced += slot.worker === worker ? 0 : 1;
  }
}

/** `db.get`: the entity at `key`, read from its shard's replica in this tab. */
export async function readEntity(route: ReadRoute, key: string, options: ReadOptions): Promise<Entity | undefined> {
  if (typeof key !== 'string') throw new TidalError('InvalidArgument', 'key must be a string');
  const shard = route.router.route(key);
  if (options.after && options.after.shard !== shard) {
    throw new TidalError('WrongShard', `the token is of shard ${options.after.shard}; key ${JSON.stringify(key)} is on shard ${shard}`);
  }
  const slot = route.slots[shard]!;
  const timeoutMs = options.timeoutMs ?? route.requestTimeoutMs;
  const { entity, lsn } = await askShard(route, slot, (host, left) => host.get(key, readAfter(slot, options.after), left), timeoutMs);
  slot.writer.observe(lsn);
  return entity;
}

/** `db.scan`: entities under `prefix` across every shard, in key order, at most `limit`. */
export async function scanShards(
  route: ReadRoute,
  prefix: string,
  options: ReadOptions & { limit?: number },
): Promise<{ key: string; entity: Entity }[]> {
  if (typeof prefix !== 'string') throw new TidalError('InvalidArgument', 'prefix must be a string');
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN)
    throw new TidalError('InvalidArgument', `limit must be an integer in 1..${MAX_SCAN}`);
  const timeoutMs = options.timeoutMs ?? route.requestTimeoutMs;
  const parts = await Promise.all(
    route.slots.map(async (slot) => {
      const part = await askShard(route, slot, (host, left) => host.scan(prefix, limit, readAfter(slot, options.after), left), timeoutMs);
      slot.writer.observe(part.lsn);
      return entitiesFromColumns(part.columns);
    }),
  );
  return parts
    .flat()
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, limit);
}
