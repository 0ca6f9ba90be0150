/**
 * `db.debug`, when the database is opened with `{ debug: true }`: fault
 * injection for tests (kill or hang a shard's worker, corrupt or drop the
 * next payload its leader ships, snapshot now). Off the production path:
 * without the option `db.debug` is `undefined` and the workers refuse
 * these calls.
 */
import { withTimeout, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { TidalDebug } from './api.js';
import { CONTROL_TIMEOUT_MS, type ShardSlot } from './shard-slot.js';

/** The fault hooks over the shards in `slots`. */
export function databaseDebug(slots: readonly ShardSlot[], clock: Clock): TidalDebug {
  const slotOf = (shard: ShardId): ShardSlot => {
    const slot = slots[shard];
    if (!slot) throw new TidalError('InvalidArgument', `no shard ${shard}`);
    return slot;
  };
  return {
    killWorker: (shard) => {
      slotOf(shard).worker.terminate(); // the supervisor finds it silent and restarts it
    },
    hangWorker: (shard, ms) => {
      const slot = slotOf(shard);
      if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) throw new TidalError('InvalidArgument', 'hangWorker takes 0..60000 ms');
      void slot.host.hang(ms).catch(() => undefined); // not awaited: the worker answers nothing until it is over
    },
    corruptNextPayload: async (shard) => {
      const slot = slotOf(shard);
      await withTimeout(clock, slot.host.corruptNextPayload(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
    },
    snapshotNow: async (shard) => {
      const slot = slotOf(shard);
      return withTimeout(clock, slot.host.snapshotNow(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
    },
    dropNextPayload: async (shard) => {
      const slot = slotOf(shard);
      await withTimeout(clock, slot.host.dropNextPayload(), CONTROL_TIMEOUT_MS, `shard ${shard}`);
    },
  };
}
