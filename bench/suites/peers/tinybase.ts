/**
 * TinyBase 10 as its users replicate between tabs: a `MergeableStore` in
 * each tab, synchronized by `createBroadcastChannelSynchronizer` on one
 * channel. Table `items`, a row per entity, cells `view` .. `skip`
 * (counters, set to their value + 1) and `label`.
 *
 * `tinybase_per_event`: every event its own transaction (TinyBase makes one
 * of each `setCell`); `tinybase_tx1000`: `store.transaction` around every
 * 1,000 events. The writer's position is its content hashes
 * (`getMergeableContentHashes`); the reader has caught up when its own
 * equal them. Bytes on the wire: the JSON text of every message the
 * reader's synchronizer sent or received (TinyBase's messages are arrays
 * of strings and numbers, posted structured-cloned; JSON is their size as
 * text), counted by a BroadcastChannel subclass the reader's synchronizer
 * is built with.
 */
import { createMergeableStore, type MergeableStore } from 'tinybase';
import { createBroadcastChannelSynchronizer } from 'tinybase/synchronizers/synchronizer-broadcast-channel';
import { dataChannel } from './protocol.js';
import { chunks, type PeerContext, type PeerReader, type PeerSystem, type PeerWriter } from './system.js';
import { KINDS, type EntityState, type Kind, type SignalEvent } from './workload.js';

const TABLE = 'items';
const encoder = new TextEncoder();

function apply(store: MergeableStore, event: SignalEvent): void {
  if (event.op === 'increment') store.setCell(TABLE, event.key, event.kind, (value) => ((value as number | undefined) ?? 0) + 1);
  else store.setCell(TABLE, event.key, 'label', event.label);
}

/** Opens `store`'s synchronizer on `channel`; `counter`, when given, is told the size of every message. */
async function synchronize(store: MergeableStore, channel: string, counter?: (bytes: number) => void) {
  const Native = globalThis.BroadcastChannel;
  if (counter !== undefined) {
    const count = counter;
    // The synchronizer makes its own channel: hand it one that counts, for as long as it is being made.
    globalThis.BroadcastChannel = class CountingBroadcastChannel extends Native {
      constructor(name: string) {
        super(name);
        this.addEventListener('message', (event: MessageEvent) => count(encoder.encode(JSON.stringify(event.data)).byteLength));
      }
      override postMessage(message: unknown): void {
        count(encoder.encode(JSON.stringify(message)).byteLength);
        super.postMessage(message);
      }
    };
  }
  try {
    const synchronizer = createBroadcastChannelSynchronizer(store, channel);
    await synchronizer.startSync();
    return synchronizer;
  } finally {
    globalThis.BroadcastChannel = Native;
  }
}

/** A TinyBase system writing `perTransaction` events per `store.transaction` (1: each event alone). */
export function tinybase(perTransaction: number): PeerSystem {
  return {
    async openWriter({ run }: PeerContext): Promise<PeerWriter> {
      const store = createMergeableStore();
      const synchronizer = await synchronize(store, dataChannel(run));
      return {
        info: '',
        async write(events: readonly SignalEvent[]) {
          if (perTransaction === 1) for (const event of events) apply(store, event);
          else for (const chunk of chunks(events, perTransaction)) store.transaction(() => chunk.forEach((event) => apply(store, event)));
        },
        position: async () => store.getMergeableContentHashes(),
        async close() {
          await synchronizer.destroy();
        },
      };
    },

    async openReader({ run }: PeerContext): Promise<PeerReader> {
      const store = createMergeableStore();
      let bytes = 0;
      const synchronizer = await synchronize(store, dataChannel(run), (n) => (bytes += n));
      return {
        reached: async (position) => JSON.stringify(store.getMergeableContentHashes()) === JSON.stringify(position),
        async entities(): Promise<EntityState[]> {
          return Object.entries(store.getTable(TABLE)).map(([key, row]) => {
            const counters: Partial<Record<Kind, number>> = {};
            for (const kind of KINDS) if (typeof row[kind] === 'number') counters[kind] = row[kind];
            return { key, counters, label: typeof row['label'] === 'string' ? row['label'] : undefined };
          });
        },
        wireBytes: async () => bytes,
        async close() {
          await synchronizer.destroy();
        },
      };
    },
  };
}
