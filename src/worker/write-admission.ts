/**
 * Write admission in the worker that leads a shard: a tick's writes
 * arrive as one write frame (write-frame.ts), from this tab's main thread
 * or forwarded from another tab; each write is checked on its own, those
 * well-formed go to `ShardLeader.writeBatch` (deduplicated by session and
 * SeqNo, appended as one WAL batch), and every write gets an outcome, in
 * frame order.
 */
import { isTidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { ShardLeader } from '../session/shard-leader.js';
import type { WriteRequest } from '../session/write.js';
import type { WriteOutcome } from './tab-rpc.js';
import { decodeWriteFrame } from './write-frame.js';

/**
 * Admits the writes of `frame` (of shard `shard`) to the leader `leader()` returns (it throws
 * `Closed` when the worker no longer leads); the outcomes in frame order.
 */
export async function admitFrame(leader: () => ShardLeader, shard: ShardId, frame: Uint8Array): Promise<WriteOutcome[]> {
  // The operations come in the stamped shape of this leader, stamped in place once admitted (no copy).
  const entries = decodeWriteFrame(frame, shard, leaderReplica(leader));
  const requests: WriteRequest[] = [];
  for (const entry of entries) if (entry.ok) requests.push(entry.request);
  const admitted = requests.length > 0 ? await admit(leader, requests) : [];
  let next = 0;
  return entries.map((entry) => (entry.ok ? admitted[next++]! : outcomeOf(entry.error)));
}

/** The replica id of the leader, if this worker still leads (else the frame is decoded unstamped, and `admit` refuses it). */
function leaderReplica(leader: () => ShardLeader): string | undefined {
  try {
    return leader().replicaId;
  } catch {
    return undefined;
  }
}

async function admit(leader: () => ShardLeader, requests: readonly WriteRequest[]): Promise<WriteOutcome[]> {
  // The tick's writes are checked one by one and appended as one WAL batch.
  const outcomes = await leader().writeBatch(requests);
  return outcomes.map((outcome): WriteOutcome => (outcome.ok ? outcome : outcomeOf(outcome.error)));
}

/** A refused write's outcome, as it crosses to the main thread (or another tab). */
function outcomeOf(error: unknown): WriteOutcome {
  return {
    ok: false,
    code: isTidalError(error) ? error.code : 'StorageError',
    message: error instanceof Error ? error.message : String(error),
  };
}
