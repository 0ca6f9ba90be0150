/** The inspector page's elements and the bounds its parts share. */
import { byId } from '../dom.js';

export const DB_NAME = 'forage';
export const REFRESH_MS = 250;
export const LOAD_TICK_MS = 100;
/** Keys the generated writes spread over: `item:000` … `item:299`. */
export const KEYS = 300;
export const MAX_RATE = 20_000;
export const MAX_WRITE_N = 100_000;
/** While this many of this tab's writes await their acknowledgement, the load pauses instead of piling up more. */
export const MAX_IN_FLIGHT = 20_000;
export const RECENT_ROWS = 15;
export const LOG_LINES = 60;
/** This tab's acknowledged writes remembered, to tell them apart from other tabs' in the feed. */
export const OWN_WRITES = 50_000;
/** Stats older than this are flagged as stale in the status line. */
export const STALE_STATS_MS = 1500;

export const KINDS = ['view', 'click', 'like', 'share'] as const;
export const LABELS = ['news', 'music', 'science', 'sport', 'art', 'travel'] as const;
export const TAGS = ['fresh', 'long-read', 'video', 'podcast', 'local', 'deep-dive', 'funny'] as const;

export const ui = {
  status: byId('status'),
  tab: byId('tab'),
  rate: byId<HTMLInputElement>('rate'),
  load: byId<HTMLButtonElement>('load'),
  count: byId<HTMLInputElement>('count'),
  writeN: byId<HTMLButtonElement>('write-n'),
  loadStats: byId('load-stats'),
  faultShard: byId<HTMLSelectElement>('fault-shard'),
  kill: byId<HTMLButtonElement>('kill'),
  corrupt: byId<HTMLButtonElement>('corrupt'),
  shards: byId('shards'),
  recent: byId('recent'),
  feedStats: byId('feed-stats'),
  log: byId('log'),
};
