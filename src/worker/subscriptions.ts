/**
 * `Subscriptions`: the main thread's `db.subscribe(prefix, callback)`
 * listeners. The workers report changes only for the prefixes someone
 * watches (none watched: they build no change reports at all), so every
 * change of the set is pushed to each shard's worker; a worker restarted
 * later gets them on spawn (`watchedPrefixes`).
 */
import { TidalError } from '../common/errors.js';
import type { Change } from './api.js';
import type { ShardSlot } from './shard-slot.js';

/** A tab's subscriptions, dispatched from the workers' change feeds. */
export class Subscriptions {
  private readonly slots: readonly ShardSlot[];
  private readonly listeners = new Set<{ prefix: string; callback: (change: Change) => void }>();

  constructor(slots: readonly ShardSlot[]) {
    this.slots = slots;
  }

  /** The prefixes the workers must report changes for (none: they build no change reports at all). */
  watchedPrefixes(): string[] {
    return [...new Set([...this.listeners].map((s) => s.prefix))];
  }

  /** Calls `callback` with every change of a key under `prefix`; returns the unsubscriber. */
  subscribe(prefix: string, callback: (change: Change) => void): () => void {
    if (typeof prefix !== 'string' || typeof callback !== 'function')
      throw new TidalError('InvalidArgument', 'subscribe(prefix: string, callback: function)');
    const subscription = { prefix, callback };
    this.listeners.add(subscription);
    this.updateWatches();
    return () => {
      if (this.listeners.delete(subscription)) this.updateWatches();
    };
  }

  /** Hands each change to the listeners whose prefix it falls under; a throwing listener is logged, not fatal. */
  dispatch(changes: Change[]): void {
    for (const change of changes) {
      for (const subscription of this.listeners) {
        if (!change.key.startsWith(subscription.prefix)) continue;
        try {
          subscription.callback(change);
        } catch (error) {
          console.error('tidal: a subscription callback threw', error);
        }
      }
    }
  }

  private updateWatches(): void {
    const prefixes = this.watchedPrefixes();
    for (const slot of this.slots) void slot.host.watch(prefixes).catch(() => undefined); // a restarting worker gets them on spawn
  }
}
