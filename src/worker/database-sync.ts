/**
 * `db.sync` on the main thread: device sync runs in the worker leading
 * each shard in this tab (docs/SYNC.md); this asks every shard's worker
 * and sums their figures into one `TidalSyncStats`. A shard led in
 * another tab reports `led: false` (that tab syncs it).
 */
import { withTimeout, type Clock } from '../common/clock.js';
import type { ShardSyncStats, TidalSync, TidalSyncStats } from './api.js';
import type { ShardSlot } from './shard-slot.js';
import { PING_TIMEOUT_MS } from './worker-supervisor.js';

/** How long `db.sync.now()` waits for a shard's round. */
const SYNC_NOW_TIMEOUT_MS = 120_000;

/** `db.sync` of device `device` over the shards in `slots`. */
export function databaseSync(slots: readonly ShardSlot[], clock: Clock, device: string): TidalSync {
  const collect = async (now: boolean): Promise<TidalSyncStats> => {
    const perShard = await Promise.all(
      slots.map(async (slot): Promise<ShardSyncStats> => {
        const stats = now
          ? await withTimeout(clock, slot.host.syncNow(), SYNC_NOW_TIMEOUT_MS, `shard ${slot.shard} sync`)
          : await withTimeout(clock, slot.host.syncStats(), PING_TIMEOUT_MS, `shard ${slot.shard}`).catch(() => undefined);
        return stats ? { led: true, ...stats } : { led: false, shard: slot.shard };
      }),
    );
    const led = perShard.filter((s): s is Extract<ShardSyncStats, { led: true }> => s.led);
    const sum = (field: 'objectsUp' | 'bytesUp' | 'objectsDown' | 'bytesDown' | 'pendingLsns') => led.reduce((n, s) => n + s[field], 0);
    const lastSyncAt = led.some((s) => s.lastSyncAt === undefined) ? undefined : Math.min(...led.map((s) => s.lastSyncAt!));
    const failed = led.find((s) => s.lastError !== undefined);
    return {
      device,
      shards: perShard,
      objectsUp: sum('objectsUp'),
      bytesUp: sum('bytesUp'),
      objectsDown: sum('objectsDown'),
      bytesDown: sum('bytesDown'),
      pendingLsns: sum('pendingLsns'),
      lastSyncAt: led.length === 0 ? undefined : lastSyncAt,
      lastError: failed?.lastError && { shard: failed.shard, code: failed.lastError.code, message: failed.lastError.message },
    };
  };
  return { now: () => collect(true), stats: () => collect(false) };
}
