/**
 * The db suite's log builder (see `db.ts`, `db.open.ms_per_1m_events`): in
 * a dedicated worker, writes the signal workload into a database's OPFS
 * folder (`tidal/<name>`) exactly as the database's shard leaders do: per
 * shard a `Wal` (durable, default segment size) behind a real
 * `ShardLeader`, fed by a `SessionWriter`, keys placed by `ShardRouter`.
 * The log it leaves is the one `openTidal` would have written for the same
 * writes, only faster: no comlink, no change notifications, no followers.
 * Then it closes every WAL, so that `openTidal` can take the folder over.
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import { ShardRouter } from '../../src/shard/router.js';
import { SessionWriter } from '../../src/session/session-writer.js';
import { ShardLeader } from '../../src/session/shard-leader.js';
import type { ClientOperation, WriteToken } from '../../src/session/write.js';
import { OpfsStorage } from '../../src/wal/opfs-storage.js';
import { Wal } from '../../src/wal/wal.js';
import { signalWorkload, type SignalWrite } from './db.js';

/** What `build` leaves on OPFS. */
export interface BuiltLog {
  /** Last LSN of each shard's log (events per shard: one write is one event). */
  readonly lsns: number[];
  /** Bytes of all segments. */
  readonly bytes: number;
  readonly segments: number;
  readonly ms: number;
}

function toOperation(write: SignalWrite): ClientOperation {
  return write.op === 'increment'
    ? { op: 'increment', key: write.key, kind: write.kind, by: 1 }
    : { op: 'set', key: write.key, field: 'label', value: write.label };
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

const api = {
  /**
   * Writes `events` events of the signal workload (`seed`) to database
   * `name` with `shards` shards, `perTick` writes issued together (they
   * become one WAL batch per shard, as a tick's writes do in the database).
   */
  async build(name: string, shards: number, events: number, seed: number, perTick: number): Promise<BuiltLog> {
    const started = performance.now();
    const writes = signalWorkload(events, seed);
    const router = new ShardRouter({ shards });
    const storage = await OpfsStorage.open(['tidal', name]);
    const tab = randomHex(8); // a tab id, as openTidal makes one
    const wals: Wal[] = [];
    const writers: SessionWriter[] = [];
    try {
      for (let shard = 0; shard < shards; shard++) {
        const { wal } = await Wal.open(storage, { shard, durable: true });
        wals.push(wal);
        const leader = await ShardLeader.open({ wal, replica: `${tab}.${shard}` });
        writers.push(new SessionWriter({ shard, link: { write: (request) => leader.write(request) }, maxUnacknowledged: perTick }));
      }
      for (let i = 0; i < writes.length; i += perTick) {
        const tick: Promise<WriteToken>[] = [];
        for (let j = i; j < Math.min(i + perTick, writes.length); j++) {
          const write = writes[j]!;
          tick.push(writers[router.route(write.key)]!.write([toOperation(write)]));
        }
        await Promise.all(tick);
      }
      const lsns = wals.map((wal) => wal.lastLsn);
      if (lsns.reduce((a, b) => a + b, 0) !== events)
        throw new TidalError('HeaderMismatch', `built ${lsns.join(' + ')} events, expected ${events}`);
      const segments = wals.flatMap((wal) => wal.segments());
      return { lsns, bytes: segments.reduce((sum, s) => sum + s.bytes, 0), segments: segments.length, ms: performance.now() - started };
    } finally {
      for (const writer of writers) writer.close();
      for (const wal of wals) await wal.close();
    }
  },
};

export type DbBuildWorker = typeof api;
Comlink.expose(api);
