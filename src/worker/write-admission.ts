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
import type { ShardLeader, WriteOutcome as LeaderOutcome } from '../session/shard-leader.js';
import type { WriteRequest } from '../session/write.js';
import type { WriteOutcome } from './tab-rpc.js';
import { decodeWriteFrame, type FrameEntry } from './write-frame.js';

/**
 * Admits the writes of `frame` (of shard `shard`) to the leader `leader()` returns (it throws
 * `Closed` when the worker no longer leads); the outcomes in frame order. `answered`, when given,
 * gets the same outcomes as soon as the leader knows them: once the batch is committed, before it
 * is applied (`ShardLeader.writeBatch`), or not at all when they are known only later.
 */
export async function admitFrame(
  leader: () => ShardLeader,
  shard: ShardId,
  frame: Uint8Array,
  answered?: (outcomes: WriteOutcome[]) => void,
): Promise<WriteOutcome[]> {
  // The operations come in the stamped shape of this leader, stamped in place once admitted (no copy).
  const entries = decodeWriteFrame(frame, shard, leaderReplica(leader));
  const requests: WriteRequest[] = [];
  for (const entry of entries) if (entry.ok) requests.push(entry.request);
  if (requests.length === 0) return inFrameOrder(entries, []);
  // The tick's writes are checked one by one and appended as one WAL batch.
  const admitted = await leader().writeBatch(requests, answered && ((outcomes) => answered(inFrameOrder(entries, outcomes))));
  return inFrameOrder(entries, admitted);
}

/** The outcomes of a frame's `entries`: the leader's (`admitted`, for the entries decoded) and the refusals of the others. */
function inFrameOrder(entries: readonly FrameEntry[], admitted: readonly LeaderOutcome[]): WriteOutcome[] {
  let next = 0;
  return entries.map((entry) => {
    if (!entry.ok) return outcomeOf(entry.error);
    const outcome = admitted[next++]!;
    return outcome.ok ? outcome : outcomeOf(outcome.error);
  });
}

/** The replica id of the leader, if this worker still leads (else the frame is decoded unstamped, and `writeBatch` is refused). */
function leaderReplica(leader: () => ShardLeader): string | undefined {
  try {
    return leader().replicaId;
  } catch {
    return undefined;
  }
}

/** A refused write's outcome, as it crosses to the main thread (or another tab). */
function outcomeOf(error: unknown): WriteOutcome {
  return {
    ok: false,
    code: isTidalError(error) ? error.code : 'StorageError',
    message: error instanceof Error ? error.message : String(error),
  };
}
