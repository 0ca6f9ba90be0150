import { describe, expect, it } from 'vitest';
import { ShardRouter } from '../shard/router.js';
import { SessionWriter } from '../session/session-writer.js';
import type { WriteRequest, WriteToken } from '../session/write.js';
import type { ShardSlot } from './shard-slot.js';
import { WriteSubmission } from './write-submission.js';

/** One shard whose leader answers only when the test says so. */
function oneShard() {
  const held: { request: WriteRequest; answer(token: WriteToken): void }[] = [];
  let lsn = 0;
  const writer = new SessionWriter({
    shard: 0,
    merge: true,
    link: { write: (request) => new Promise<WriteToken>((answer) => held.push({ request, answer })) },
  });
  const submission = new WriteSubmission({
    slots: [{ shard: 0, writer } as unknown as ShardSlot],
    router: new ShardRouter({ shards: 1 }),
    refusal: () => undefined,
  });
  const answerNext = () => held.shift()!.answer({ shard: 0, lsn: ++lsn });
  return { submission, held, answerNext };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('WriteSubmission.flush', () => {
  it('waits for every write submitted before it, of this tick and earlier ones, and not for later writes', async () => {
    const { submission, held, answerNext } = oneShard();
    const order: string[] = [];
    void submission.write({ op: 'increment', key: 'a', kind: 'n', by: 1 }, undefined);
    await tick(); // tick 1 sent
    void submission.transact((tx) => tx.increment('b', 'n'), undefined);
    const flushed = submission.flush().then(() => order.push('flushed')); // tick 2's write not even sealed yet
    await tick();
    void submission.write({ op: 'increment', key: 'c', kind: 'n', by: 1 }, undefined); // after the flush
    await tick();
    expect(held).toHaveLength(3);
    answerNext();
    await tick();
    expect(order).toEqual([]); // tick 2 still unanswered
    answerNext();
    await flushed;
    expect(order).toEqual(['flushed']);
    expect(held).toHaveLength(1); // the later write is still in flight: the flush did not wait for it
  });
});
