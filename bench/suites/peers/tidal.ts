/**
 * tidal between two tabs, as an application uses it: `openTidal` (4 shards,
 * OPFS, `durability: 'flush'`) in the writer tab, which leads every shard,
 * and in the reader tab, which follows every shard over BroadcastChannel
 * (its shard workers verify every byte with BLAKE3 before applying it).
 *
 * `tidal_per_call`: `increment` / `set`, 1,000 calls issued in one tick and
 * awaited together (`Promise.all`) before the next 1,000.
 * `tidal_batched`: `db.transact(tx => ...)`, one call per 1,000 events
 * (each shard's part one write, one WAL event), the calls issued back to
 * back as Yjs's and TinyBase's transactions are, all awaited at the end;
 * `tidal_batched_awaited`: the same calls, each awaited before the next.
 *
 * The writer's position is each shard's last LSN; the reader has caught up
 * when its replicas have applied them (`stats().shards[i].appliedLsn`).
 * Its state is read back with `scan`. Bytes on the wire: the log bytes the
 * reader's replicas verified (`bytesVerified`).
 */
import { TidalError } from '../../../src/common/errors.js';
import { openTidal, type TidalDb } from '../../../src/index.js';
import { databaseName } from './protocol.js';
import { chunks, type PeerContext, type PeerReader, type PeerSystem, type PeerWriter } from './system.js';
import { ENTITIES, KINDS, type EntityState, type Kind, type SignalEvent } from './workload.js';

/** The library's default; the shard-count variants (`SHARD_VARIANTS` in protocol.ts) pass fewer. */
const DEFAULT_SHARDS = 4;
const PER_CHUNK = 1_000;
const SETTLE_MS = 30_000;
const SCAN_TIMEOUT_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function open(run: string, shards: number): Promise<TidalDb> {
  return openTidal({ name: databaseName(run), shards, storage: 'opfs', durability: 'flush' });
}

/**
 * `tidal_batched`: the transactions issued back to back, as the Yjs and
 * TinyBase writers issue theirs, none waiting on the one before; each is
 * still acknowledged only once its WAL batch is flushed, and the write is
 * over when all are. Transactions queued behind a flush are group-committed
 * together (one WAL batch per shard), which is what this measures.
 */
async function writeBatched(db: TidalDb, events: readonly SignalEvent[]): Promise<void> {
  await Promise.all(Array.from(chunks(events, PER_CHUNK), (chunk) => transactChunk(db, chunk)));
}

/** `tidal_batched_awaited`: each transaction awaited (durable) before the next is issued. */
async function writeBatchedAwaited(db: TidalDb, events: readonly SignalEvent[]): Promise<void> {
  for (const chunk of chunks(events, PER_CHUNK)) await transactChunk(db, chunk);
}

function transactChunk(db: TidalDb, chunk: readonly SignalEvent[]): Promise<unknown> {
  return db.transact((tx) => {
    for (const e of chunk) {
      if (e.op === 'increment') tx.increment(e.key, e.kind);
      else tx.set(e.key, 'label', e.label);
    }
  });
}

async function writePerCall(db: TidalDb, events: readonly SignalEvent[]): Promise<void> {
  for (const chunk of chunks(events, PER_CHUNK)) {
    await Promise.all(chunk.map((e) => (e.op === 'increment' ? db.increment(e.key, e.kind) : db.set(e.key, 'label', e.label))));
  }
}

type Mode = 'per_call' | 'batched' | 'batched_awaited';
const WRITERS: Record<Mode, (db: TidalDb, events: readonly SignalEvent[]) => Promise<void>> = {
  per_call: writePerCall,
  batched: writeBatched,
  batched_awaited: writeBatchedAwaited,
};

/** A tidal system: per call, or batched through the database's batched API (issued back to back, or each awaited), over `shards` shards. */
export function tidal(mode: Mode, shards = DEFAULT_SHARDS): PeerSystem {
  return {
    async openWriter({ run }: PeerContext): Promise<PeerWriter> {
      const db = await open(run, shards);
      if (db.storage !== 'opfs') throw new TidalError('StorageError', `the writer's database fell back to ${db.storage} storage`);
      return {
        info: db.tabId,
        write: (events) => WRITERS[mode](db, events),
        position: async () => (await db.stats()).shards.map((s) => s.lsn),
        close: () => db.close(),
      };
    },

    async openReader({ run, writerInfo }: PeerContext): Promise<PeerReader> {
      const db = await open(run, shards);
      try {
        await following(db, writerInfo);
      } catch (error) {
        await db.close();
        throw error;
      }
      return {
        async reached(position) {
          const lsns = position as number[];
          return (await db.stats()).shards.every((s, i) => s.appliedLsn >= lsns[i]!);
        },
        async entities(): Promise<EntityState[]> {
          const rows = await db.scan('item-', { limit: ENTITIES, timeoutMs: SCAN_TIMEOUT_MS });
          return rows.map(({ key, entity }) => {
            const counters: Partial<Record<Kind, number>> = {};
            for (const kind of KINDS) if (entity.counters[kind] !== undefined) counters[kind] = entity.counters[kind];
            const label = entity.fields['label'];
            return { key, counters, label: typeof label === 'string' ? label : undefined };
          });
        },
        async wireBytes() {
          const { shards } = await db.stats();
          const rejected = shards.reduce((sum, s) => sum + s.payloadsRejected, 0);
          if (rejected > 0) throw new TidalError('Corrupt', `the reader's replicas rejected ${rejected} payloads on clean links`);
          return shards.reduce((sum, s) => sum + s.bytesVerified, 0);
        },
        close: () => db.close(),
      };
    },
  };
}

/** Resolves once `db` follows tab `leader` on every shard (a fresh tab starts as `starting`). */
async function following(db: TidalDb, leader: string): Promise<void> {
  const deadline = performance.now() + SETTLE_MS;
  for (;;) {
    const { shards } = await db.stats();
    if (shards.every((s) => s.role === 'follower' && s.leaderTab === leader)) return;
    if (performance.now() > deadline) {
      const roles = shards.map((s) => `shard ${s.shard}: ${s.role} of ${s.leaderTab ?? 'nobody'}`).join(', ');
      throw new TidalError(
        'Timeout',
        `the reader tab should follow the writer tab ${leader} on every shard within ${SETTLE_MS} ms: ${roles}`,
      );
    }
    await sleep(20);
  }
}
