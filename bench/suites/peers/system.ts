/**
 * What the peers suite needs of each system under test: a writer that
 * applies the workload and says where its state is, and a reader in
 * another tab that can tell when it has caught up and hand back its whole
 * state. `tab.ts` runs them; `tidal.ts`, `yjs.ts`, `tinybase.ts` and
 * `raw.ts` implement them.
 */
import type { EntityState, SignalEvent } from './workload.js';

/** Where a run's tabs meet: the run id (channel and database names derive from it). */
export interface PeerContext {
  readonly run: string;
  /** The writer's `info` (tidal: its tab id), in the reader only. */
  readonly writerInfo: string;
}

export interface PeerWriter {
  /** Said to the reader before the run (tidal: the tab id the reader must follow). */
  readonly info: string;
  /** Writes every event; resolves once all are written locally (for tidal: acknowledged, durable). */
  write(events: readonly SignalEvent[]): Promise<void>;
  /** Where the writer's state is, in terms the reader compares with its own (structured-cloneable). */
  position(): Promise<unknown>;
  close(): Promise<void>;
}

export interface PeerReader {
  /** True once this reader has everything up to the writer's `position`. */
  reached(position: unknown): Promise<boolean>;
  /** Every entity the reader holds. */
  entities(): Promise<Iterable<EntityState>>;
  /** Bytes that reached this reader over the wire (tidal: log bytes its replicas verified). */
  wireBytes(): Promise<number>;
  close(): Promise<void>;
}

export interface PeerSystem {
  openWriter(context: PeerContext): Promise<PeerWriter>;
  openReader(context: PeerContext): Promise<PeerReader>;
}

/** Splits `events` into runs of `size` (the last may be shorter). */
export function* chunks<T>(events: readonly T[], size: number): Generator<readonly T[]> {
  for (let i = 0; i < events.length; i += size) yield events.slice(i, i + size);
}
