/**
 * The change feed of one shard worker: which keys the applied writes
 * changed, reported to the main thread once per tick (not once per event),
 * and only for key prefixes some subscription on the main thread watches;
 * without one, nothing is built at all. A replayed log is not news: the
 * feed is paused during replays.
 *
 *     const feed = new ChangeFeed(shard, clock);
 *     const state = feed.observedState(); // a ShardState that tells the feed what each write changed
 *     feed.listen((changes) => mainThread.dispatch(changes));
 *     feed.watch(['item:']);
 */
import type { Clock } from '../common/clock.js';
import type { ShardId } from '../shard/shard-id.js';
import { ShardState } from '../session/shard-state.js';
import { STATE_IMPORT, type LogEvent } from '../session/write.js';
import type { Change } from './api.js';
import { entityAt } from './entity.js';

/** A `ShardState` that tells its feed which keys each applied write changed, while the feed is watched. */
export class ObservedState extends ShardState {
  private readonly feed: ChangeFeed;

  constructor(feed: ChangeFeed) {
    super();
    this.feed = feed;
  }

  protected override appliedWrite(lsn: number, write: LogEvent, changed: readonly string[] | undefined): void {
    if (!this.feed.watching) return;
    if (write.t === STATE_IMPORT) for (const key of changed ?? []) this.feed.changed(this, lsn, key);
    else for (const op of write.ops) this.feed.changed(this, lsn, op.key);
  }
}

/** Reports one shard's changed entities to the main thread, a tick at a time. */
export class ChangeFeed {
  private readonly shard: ShardId;
  private readonly clock: Clock;
  private listener: ((changes: Change[]) => void) | undefined;
  /** Key prefixes the main thread has subscriptions for; nothing is reported without one. */
  private watched: readonly string[] = [];
  /** Keys changed this tick, with the LSN of their last change and the state that holds them. */
  private readonly pending = new Map<string, number>();
  private pendingState: ShardState | undefined;
  private scheduled = false;
  /** A log replay is running: what it applies is not news. */
  private paused = false;

  constructor(shard: ShardId, clock: Clock) {
    this.shard = shard;
    this.clock = clock;
  }

  /** A fresh state whose applied writes this feed reports. */
  observedState(): ObservedState {
    return new ObservedState(this);
  }

  /** True while changes are reported (some subscription exists, and no replay is running). */
  get watching(): boolean {
    return this.watched.length > 0 && this.listener !== undefined && !this.paused;
  }

  /** Registers the main thread's change listener (a comlink proxy). */
  listen(listener: (changes: Change[]) => void): void {
    this.listener = listener;
  }

  /** The key prefixes subscribed to on the main thread (empty: report nothing, build nothing). */
  watch(prefixes: readonly string[]): void {
    this.watched = [...prefixes];
  }

  /** Runs `replay` with the feed paused (a replayed log is not news). */
  async duringReplay<T>(replay: () => Promise<T>): Promise<T> {
    this.paused = true;
    try {
      return await replay();
    } finally {
      this.paused = false;
    }
  }

  /** Notes a changed key of `state`; the tick's changes go out together, read from the state once applied. */
  changed(state: ShardState, lsn: number, key: string): void {
    if (!this.watched.some((prefix) => key.startsWith(prefix))) return;
    this.pending.set(key, lsn);
    this.pendingState = state;
    if (this.scheduled) return;
    this.scheduled = true;
    this.clock.setTimeout(() => this.report(), 0);
  }

  private report(): void {
    this.scheduled = false;
    const state = this.pendingState;
    const changes: Change[] = [];
    if (state) {
      for (const [key, lsn] of this.pending) changes.push({ key, entity: entityAt(state.crdt, key), shard: this.shard, lsn });
    }
    this.pending.clear();
    if (changes.length > 0) this.listener?.(changes);
  }
}
