/**
 * Yjs 13 as its users replicate between tabs: a `Y.Doc` in each tab, every
 * update the writer's doc emits posted on a BroadcastChannel and applied in
 * the reader's doc (`Y.applyUpdate`). The state is a `Y.Map` of entities,
 * each a nested `Y.Map` of its counters (`view` .. `skip`) and its `label`;
 * an increment sets the counter to its value + 1 (one writer: no conflicts).
 *
 * `yjs_per_event`: every event its own transaction (one update each);
 * `yjs_tx1000`: `doc.transact` around every 1,000 events (one update each).
 * The writer's position is its state vector; the reader has caught up when
 * its own state vector is at least that, client by client.
 */
import * as Y from 'yjs';
import { dataChannel } from './protocol.js';
import { chunks, type PeerContext, type PeerReader, type PeerSystem, type PeerWriter } from './system.js';
import { KINDS, type EntityState, type Kind, type SignalEvent } from './workload.js';

type EntityMap = Y.Map<number | string>;

function apply(items: Y.Map<EntityMap>, event: SignalEvent): void {
  let entity = items.get(event.key);
  if (!entity) {
    entity = new Y.Map<number | string>();
    items.set(event.key, entity);
  }
  if (event.op === 'increment') entity.set(event.kind, ((entity.get(event.kind) as number | undefined) ?? 0) + 1);
  else entity.set('label', event.label);
}

/** A Yjs system writing `perTransaction` events per `doc.transact` (1: each event alone). */
export function yjs(perTransaction: number): PeerSystem {
  return {
    async openWriter({ run }: PeerContext): Promise<PeerWriter> {
      const channel = new BroadcastChannel(dataChannel(run));
      const doc = new Y.Doc();
      const items = doc.getMap<EntityMap>('items');
      doc.on('update', (update: Uint8Array) => channel.postMessage(update)); // BroadcastChannel copies it
      return {
        info: '',
        async write(events: readonly SignalEvent[]) {
          if (perTransaction === 1) for (const event of events) apply(items, event);
          else for (const chunk of chunks(events, perTransaction)) doc.transact(() => chunk.forEach((event) => apply(items, event)));
        },
        position: async () => Y.encodeStateVector(doc),
        async close() {
          doc.destroy();
          channel.close();
        },
      };
    },

    async openReader({ run }: PeerContext): Promise<PeerReader> {
      const channel = new BroadcastChannel(dataChannel(run));
      const doc = new Y.Doc();
      const items = doc.getMap<EntityMap>('items');
      let bytes = 0;
      channel.onmessage = (event: MessageEvent<Uint8Array>) => {
        bytes += event.data.byteLength;
        Y.applyUpdate(doc, event.data);
      };
      return {
        async reached(position) {
          const mine = Y.decodeStateVector(Y.encodeStateVector(doc));
          for (const [client, clock] of Y.decodeStateVector(position as Uint8Array)) if ((mine.get(client) ?? 0) < clock) return false;
          return true;
        },
        async entities(): Promise<EntityState[]> {
          const list: EntityState[] = [];
          items.forEach((entity, key) => {
            const counters: Partial<Record<Kind, number>> = {};
            for (const kind of KINDS) {
              const value = entity.get(kind);
              if (typeof value === 'number') counters[kind] = value;
            }
            const label = entity.get('label');
            list.push({ key, counters, label: typeof label === 'string' ? label : undefined });
          });
          return list;
        },
        wireBytes: async () => bytes,
        async close() {
          doc.destroy();
          channel.close();
        },
      };
    },
  };
}
