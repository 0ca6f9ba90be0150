import { describe, expect, it } from 'vitest';
import { TidalError } from '../common/errors.js';
import { ShardRouter } from '../shard/router.js';
import { SessionWriter } from '../session/session-writer.js';
import type { WriteRequest, WriteToken } from '../session/write.js';
import type { ShardSlot } from './shard-slot.js';
import { WriteSubmission } from './write-submission.js';

/** One shard whose leader answers only when the test says so. */
function oneShard() {
  const held: { request: WriteRequest; answer(token: WriteToken): void; refuse(error: unknown): void }[] = [];
  let lsn = 0;
  const writer = new SessionWriter({
    shard: 0,
    merge: true,
    link: { write: (request) => new Promise<WriteToken>((answer, refuse) => held.push({ request, answer, refuse })) },
  });
  const submission = new WriteSubmission({
    slots: [{ shard: 0, writer } as unknown as ShardSlot],
    router: new ShardRouter({ shards: 1 }),
    refusal: () => undefined,
  });
  const answerNext = () => held.shift()!.answer({ shard: 0, lsn: ++lsn });
  return { submission, held, answerNext, writer };
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

  it('resolves after the callbacks of the writes it waited for, also of a merged write refused and sent again part by part', async () => {
    const { submission, held, writer } = oneShard();
    const order: string[] = [];
    const outcome = (name: string, written: Promise<unknown>) =>
      written.then(
        () => order.push(`${name} written`),
        (error: TidalError) => order.push(`${name} ${error.code}`),
      );
    void outcome('a', submission.write({ op: 'increment', key: 'a', kind: 'n', by: 1 }, undefined));
    void outcome('b', submission.write({ op: 'increment', key: 'b', kind: 'n', by: 1 }, undefined));
    const flushed = submission.flush().then(() => order.push('flushed'));
    await tick();
    expect(held.map((h) => h.request.ops.length)).toEqual([2]); // merged into one write
    held.shift()!.refuse(new TidalError('Overflow', 'the counter would overflow'));
    await tick();
    expect(held.map((h) => h.request.ops.map((op) => op.key))).toEqual([['a'], ['b']]); // sent again one by one
    held.shift()!.answer({ shard: 0, lsn: 1 });
    await tick();
    expect(order).toEqual(['a written']);
    held.shift()!.refuse(new TidalError('Overflow', 'the counter would overflow'));
    await flushed;
    expect(order).toEqual(['a written', 'b Overflow', 'flushed']);
    writer.close();
  });

  it('resolves at once with nothing in flight, and once close has refused what was', async () => {
    const { submission, writer } = oneShard();
    await submission.flush();
    const written = submission.write({ op: 'increment', key: 'a', kind: 'n', by: 1 }, undefined).catch((error: TidalError) => error.code);
    const flushed = submission.flush();
    await tick();
    writer.close();
    await flushed;
    expect(await written).toBe('Closed');
  });
});

describe('WriteSubmission.transact', () => {
  it("sends a shard's part as encoded writes of at most 10,000 operations, each carrying the block its operations decode from", async () => {
    const { submission, held, answerNext } = oneShard();
    const result = submission.transact((tx) => {
      for (let i = 0; i < 10_000; i++) tx.increment(`item-${i % 7}`, 'n', 1 + (i % 3));
      tx.set('item-1', 'label', 'cats');
      tx.add('item-2', 'tags', { at: 3 });
    }, undefined);
    await tick();
    expect(held.map((h) => h.request.ops.length)).toEqual([10_000, 2]);
    expect(held[0]!.request.ops[9_999]).toEqual({ op: 'increment', key: `item-${9_999 % 7}`, kind: 'n', by: 1 + (9_999 % 3) });
    expect(held[1]!.request.ops).toEqual([
      { op: 'set', key: 'item-1', field: 'label', value: 'cats' },
      { op: 'add', key: 'item-2', set: 'tags', member: { at: 3 } },
    ]);
    expect(held.every((h) => h.request.block !== undefined)).toBe(true);
    answerNext();
    answerNext();
    expect(await result).toEqual({ tokens: [{ shard: 0, lsn: 2 }], operations: 10_002 });
  });

  it('sends nothing when an operation is refused, even if build catches the refusal and goes on', async () => {
    const { submission, held } = oneShard();
    const refused = await submission
      .transact((tx) => {
        tx.increment('a', 'n');
        tx.increment('b', 'n', 0);
      }, undefined)
      .catch((error: TidalError) => error.code);
    expect(refused).toBe('InvalidArgument');
    const caught: string[] = [];
    const result = submission.transact((tx) => {
      tx.increment('a', 'n');
      try {
        tx.set('b', 'f', (() => 1) as never);
      } catch (error) {
        caught.push((error as TidalError).code);
      }
      tx.set('c', 'f', 'kept');
    }, undefined);
    await tick();
    expect(caught).toEqual(['Unencodable']);
    expect(held.map((h) => h.request.ops)).toEqual([
      [
        { op: 'increment', key: 'a', kind: 'n', by: 1 },
        { op: 'set', key: 'c', field: 'f', value: 'kept' },
      ],
    ]);
    held.shift()!.answer({ shard: 0, lsn: 1 });
    expect((await result).operations).toBe(2);
  });

  it('refuses a bad idempotency key before building anything, as a single write does', async () => {
    const { submission, held } = oneShard();
    let built = false;
    const code = (key: string) =>
      submission
        .transact(
          (tx) => {
            built = true;
            tx.increment('a', 'n');
          },
          { idempotencyKey: key },
        )
        .then(
          () => 'written',
          (error: TidalError) => error.code,
        );
    expect(await code('order-\uD800')).toBe('Unencodable');
    expect(await code('')).toBe('InvalidArgument');
    await tick();
    expect(built).toBe(false);
    expect(held).toHaveLength(0);
  });
});
