/**
 * Write requests for tests of the tab's write path (the tick batcher, the
 * write port): one session, request `seq` acknowledging those before it,
 * one increment of its own key.
 *
 *     const frame = encodeWriteFrame(shard, [incrementRequest(1), incrementRequest(2)]);
 */
import type { WriteRequest } from '../../session/write.js';

/** Request `seq` of one session: `increment('item-<seq>', 'click', 1)`. */
export const incrementRequest = (seq: number): WriteRequest => ({
  session: '0123456789abcdef0123456789abcdef',
  startedAt: 1,
  seq,
  acked: seq - 1,
  ops: [{ op: 'increment', key: `item-${seq}`, kind: 'click', by: 1 }],
});
