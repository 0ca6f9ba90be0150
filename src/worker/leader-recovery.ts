/**
 * What a worker does to recover its shard once it leads: open the log
 * (retrying while the previous leader's worker lets go of its exclusive
 * handles), then rebuild the state from the newest verified snapshot and
 * the log after it, yielding now and then so the worker answers liveness
 * checks meanwhile.
 */
import type { Clock } from '../common/clock.js';
import { sleep } from '../common/clock.js';
import { isTidalError } from '../common/errors.js';
import { yieldToEventLoop } from '../common/event-loop.js';
import { restoreFromSnapshot } from '../session/snapshot-restore.js';
import { readLogEvents } from '../session/log-event-read.js';
import { newerFormat } from '../wal/segment-scan.js';
import type { SnapshotFileInfo, SnapshotStore } from '../wal/snapshot-store.js';
import type { WalStorage } from '../wal/storage.js';
import { Wal } from '../wal/wal.js';
import type { ShardOpenTimes } from './api.js';
import type { ChangeFeed, ObservedState } from './change-feed.js';

/** Longest stretch a log replay runs without yielding to the worker's event loop. */
const REPLAY_SLICE_MS = 50;
const OPEN_RETRY_MS = 50;
const OPEN_ATTEMPTS = 100; // a dead worker's OPFS handles can take a moment to be released

/** The shard's log, recovered; `ms`: how long the attempt that opened it took (without waits for a previous holder). */
export async function openShardWal(
  storage: WalStorage,
  options: { readonly shard: number; readonly durable: boolean; readonly clock: Clock },
): Promise<{ wal: Wal; ms: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const started = performance.now();
      // The log below the newest snapshot is verified only if read (a fallback to an older snapshot): an open replays after it.
      const { wal } = await Wal.open(storage, { shard: options.shard, durable: options.durable, verifyAtOpen: 'after-snapshot' });
      return { wal, ms: performance.now() - started };
    } catch (error) {
      // The previous leader's worker may still be letting go of its exclusive handles.
      if (!isTidalError(error, 'StorageError') || attempt >= OPEN_ATTEMPTS) throw error;
      await sleep(options.clock, OPEN_RETRY_MS);
    }
  }
}

/**
 * A state from the newest verified snapshot and the log after it (the whole
 * log without one), replayed through the change feed.
 */
export async function replayShard(options: {
  readonly wal: Wal;
  readonly store: SnapshotStore;
  readonly feed: ChangeFeed;
  readonly clock: Clock;
}): Promise<{ state: ObservedState; snapshot: SnapshotFileInfo | undefined } & Omit<ShardOpenTimes, 'tailMs'>> {
  const { wal, store, feed, clock } = options;
  const state = feed.observedState();
  let snapshot: SnapshotFileInfo | undefined;
  let times: Omit<ShardOpenTimes, 'tailMs'> = { snapshotMs: 0, rebuildMs: 0, replayedEvents: 0 };
  await feed.duringReplay(async () => {
    const restored = await restoreFromSnapshot({
      wal,
      store,
      state,
      replay: async (fromLsn) => {
        let yieldedAt = clock.now();
        // Wal.open verified the log after the snapshot (and the reader checks what it did not): structure only here.
        // Batch by batch, each batch's events applied in one loop: not one async generator step (promises) per event.
        for await (const batch of wal.readBatches(fromLsn, { verify: false })) {
          // Straight into log events (no generic value per event); a refused event throws once those before it applied.
          const skip = Math.max(0, fromLsn - batch.firstLsn);
          const { events, refused } = readLogEvents(batch.payload, batch.header.eventCount, skip);
          for (let i = 0; i < events.length; i++) {
            state.applyEvent(batch.firstLsn + skip + i, events[i]!);
            if (clock.now() - yieldedAt > REPLAY_SLICE_MS) {
              await yieldToEventLoop();
              yieldedAt = clock.now();
            }
          }
          if (refused !== undefined) throw refusedEvent(refused);
        }
      },
    });
    if (restored.snapshotLsn > 0) snapshot = { name: restored.snapshotFile, lsn: restored.snapshotLsn, bytes: restored.snapshotBytes };
    times = { snapshotMs: restored.snapshotMs, rebuildMs: restored.replayMs, replayedEvents: restored.replayedEvents };
  });
  return { state, snapshot, ...times };
}

/**
 * What a replay throws for an event of the log the leader opened (every
 * byte verified) that it cannot apply: one of a format this build does not
 * read was written by a newer tidal, so it is version skew (the tab steps
 * aside and the page is told), not damage nor a failure to retry.
 */
function refusedEvent(error: unknown): unknown {
  return isTidalError(error, 'UnsupportedVersion') ? newerFormat(error) : error;
}
