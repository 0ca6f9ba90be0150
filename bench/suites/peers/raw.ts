/**
 * The raw baseline: no library, the events themselves as JSON text, 1,000 a
 * message on a BroadcastChannel, applied by the reader into a `Map`. What
 * moving the same information between two tabs costs at the least.
 * An event on the wire: `[0, key, kind]` (increment) or `[1, key, label]`.
 */
import { chunks, type PeerContext, type PeerReader, type PeerSystem, type PeerWriter } from './system.js';
import { dataChannel } from './protocol.js';
import type { EntityState, Kind, SignalEvent } from './workload.js';

const PER_MESSAGE = 1_000;
type WireEvent = [0, string, Kind] | [1, string, string];

export const raw: PeerSystem = {
  async openWriter({ run }: PeerContext): Promise<PeerWriter> {
    const channel = new BroadcastChannel(dataChannel(run));
    let sent = 0;
    return {
      info: '',
      async write(events: readonly SignalEvent[]) {
        for (const chunk of chunks(events, PER_MESSAGE)) {
          const wire = chunk.map((e): WireEvent => (e.op === 'increment' ? [0, e.key, e.kind] : [1, e.key, e.label]));
          channel.postMessage(JSON.stringify(wire));
          sent += chunk.length;
        }
      },
      position: async () => sent,
      async close() {
        channel.close();
      },
    };
  },

  async openReader({ run }: PeerContext): Promise<PeerReader> {
    const channel = new BroadcastChannel(dataChannel(run));
    const entities = new Map<string, { counters: Partial<Record<Kind, number>>; label: string | undefined }>();
    let received = 0;
    let bytes = 0;
    channel.onmessage = (event: MessageEvent<string>) => {
      bytes += event.data.length; // ASCII: one byte per code unit
      for (const [op, key, arg] of JSON.parse(event.data) as WireEvent[]) {
        let entity = entities.get(key);
        if (!entity) entities.set(key, (entity = { counters: {}, label: undefined }));
        if (op === 0) entity.counters[arg] = (entity.counters[arg] ?? 0) + 1;
        else entity.label = arg;
        received++;
      }
    };
    return {
      reached: async (position) => received >= (position as number),
      entities: async (): Promise<EntityState[]> => [...entities].map(([key, { counters, label }]) => ({ key, counters, label })),
      wireBytes: async () => bytes,
      async close() {
        channel.close();
      },
    };
  },
};
