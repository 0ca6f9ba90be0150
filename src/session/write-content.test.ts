import { describe, expect, it } from 'vitest';
import { TidalError } from '../common/errors.js';
import { ManualClock } from '../common/testing/manual-clock.js';
import { OpsBlockV3Builder } from './ops-block-builder.js';
import { SessionWriter } from './session-writer.js';
import type { WriteRequest, WriteToken } from './write.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SessionWriter.writeEncoded (a write its caller encoded)', () => {
  it('resends the same block, also into a new session, and decodes its operations only for a link that asks', async () => {
    const builder = new OpsBlockV3Builder();
    builder.counter('increment', 'item-1', 'click', 2);
    builder.set('item-2', 'label', 'cats');
    const block = builder.finish();
    const sent: WriteRequest[] = [];
    const answers: { answer(token: WriteToken): void; refuse(error: unknown): void }[] = [];
    const clock = new ManualClock();
    const writer = new SessionWriter({
      shard: 0,
      clock,
      retryDelayMs: 1,
      link: { write: (request) => new Promise<WriteToken>((answer, refuse) => (sent.push(request), answers.push({ answer, refuse }))) },
    });
    const written = writer.writeEncoded(block, 2, { idempotencyKey: 'order-1' });
    await tick();
    answers.shift()!.refuse(new TidalError('Timeout', 'no answer'));
    await tick();
    await clock.advance(1);
    answers.shift()!.refuse(new TidalError('SessionExpired', 'forgotten'));
    await tick();
    expect(sent.map((r) => [r.seq, r.session === sent[0]!.session])).toEqual([
      [1, true],
      [1, true],
      [1, false],
    ]);
    expect(sent.every((r) => r.block === block && r.idempotencyKey === 'order-1')).toBe(true);
    expect(sent[2]!.ops).toEqual([
      { op: 'increment', key: 'item-1', kind: 'click', by: 2 },
      { op: 'set', key: 'item-2', field: 'label', value: 'cats' },
    ]);
    answers.shift()!.answer({ shard: 0, lsn: 7 });
    expect(await written).toEqual({ shard: 0, lsn: 7 });
    expect(writer.highWaterMark).toBe(1);
  });
});
