/**
 * Test support (not part of the package): a deterministic mix of writes
 * over a few entities, the same for every shard test that needs a log with
 * some of everything in it (counter steps, fields, set members, some writes
 * under an idempotency key), so that snapshots and replays have real state
 * to agree on.
 *
 *     const request = mixedWrites({ entities: 50, startedAt: Date.now() });
 *     await writeRounds(leader, request, 5, 1, 40); // 5 sessions, seq 1..40
 */
import type { ShardLeader } from '../shard-leader.js';
import type { WriteRequest } from '../write.js';

/** Builds write `seq` of session `s` (its id `s` in hex, started `startedAt + s`, every earlier write acknowledged). */
export type MixedWrite = (s: number, seq: number) => WriteRequest;

/**
 * Writes over `entities` entities (`item:0`...): each increments a view
 * counter and either sets `title` (every 4th seq) or adds a `tags` member;
 * every 7th seq carries the idempotency key `k-<s>-<seq>`.
 */
export function mixedWrites(options: { readonly entities: number; readonly startedAt: number }): MixedWrite {
  return (s, seq) => {
    const key = `item:${(s * 31 + seq) % options.entities}`;
    return {
      session: s.toString(16).padStart(32, '0'),
      startedAt: options.startedAt + s,
      seq,
      acked: seq - 1,
      ops: [
        { op: 'increment', key, kind: 'view', by: 1 + (seq % 3) },
        seq % 4 === 0 ? { op: 'set', key, field: 'title', value: `t${seq}` } : { op: 'add', key, set: 'tags', member: `g${seq % 5}` },
      ],
      ...(seq % 7 === 0 ? { idempotencyKey: `k-${s}-${seq}` } : {}),
    };
  };
}

/** Writes seq `from`..`to` of sessions 0..`sessions`-1, one batch per seq; throws the first write refused. */
export async function writeRounds(leader: ShardLeader, request: MixedWrite, sessions: number, from: number, to: number): Promise<void> {
  for (let seq = from; seq <= to; seq++) {
    const outcomes = await leader.writeBatch(Array.from({ length: sessions }, (_, s) => request(s, seq)));
    for (const outcome of outcomes) if (!outcome.ok) throw outcome.error;
  }
}
