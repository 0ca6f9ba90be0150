import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../common/clock.js';
import { isTidalError } from '../common/errors.js';
import { ManualClock } from '../common/testing/manual-clock.js';
import type { ShardSlot } from './shard-slot.js';
import { FRAME_SEND_BYTES, TickBatcher } from './tick-batcher.js';
import type { WriteOutcome } from './tab-rpc.js';
import { incrementRequest as request } from './testing/write-requests.js';
import { blockOf, decodeWriteFrame } from './write-frame.js';

const SHARD = 1;
const TIMEOUT_MS = 1000;

/** A slot whose worker answers each frame when the test says so, and a clock that counts the timers set. */
function harness() {
  const frames: { seqs: number[]; answer(outcomes: WriteOutcome[]): void; fail(error: unknown): void }[] = [];
  const writes = {
    send: (frame: Uint8Array) =>
      new Promise<WriteOutcome[]>((answer, fail) => {
        const seqs = decodeWriteFrame(frame, SHARD).map((entry) => (entry.ok ? entry.request.seq : -1));
        frames.push({ seqs, answer, fail });
      }),
  };
  const slot = { shard: SHARD, writes } as unknown as ShardSlot;
  const manual = new ManualClock();
  let timersSet = 0;
  const clock: Clock = {
    now: () => manual.now(),
    setTimeout: (callback: () => void, ms: number): TimerHandle => {
      timersSet++;
      return manual.setTimeout(callback, ms);
    },
    clearTimeout: (handle) => manual.clearTimeout(handle),
    every: (ms, callback) => manual.every(ms, callback),
  };
  const ok = (seqs: number[]): WriteOutcome[] => seqs.map((seq) => ({ ok: true, token: { shard: SHARD, lsn: seq } }));
  return { batcher: new TickBatcher(() => slot, TIMEOUT_MS, clock), frames, manual, ok, timersSet: () => timersSet };
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('TickBatcher', () => {
  it("sends a tick's writes as one frame and settles each with its own outcome", async () => {
    const { batcher, frames } = harness();
    const written = [1, 2, 3].map((seq) => batcher.write(request(seq)));
    await tick();
    expect(frames.map((f) => f.seqs)).toEqual([[1, 2, 3]]);
    frames[0]!.answer([
      { ok: true, token: { shard: SHARD, lsn: 10 } },
      { ok: false, code: 'Overflow', message: 'too much' },
      { ok: true, token: { shard: SHARD, lsn: 11 } },
    ] as WriteOutcome[]);
    const settled = await Promise.allSettled(written);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: { shard: SHARD, lsn: 10 } });
    const refused = settled[1]!;
    expect(refused.status === 'rejected' && isTidalError(refused.reason, 'Overflow')).toBe(true);
    expect(settled[2]).toEqual({ status: 'fulfilled', value: { shard: SHARD, lsn: 11 } });
  });

  it('fails the writes of a frame unanswered within the timeout with Timeout, and of that frame only', async () => {
    const { batcher, frames, manual, ok } = harness();
    const first = batcher.write(request(1));
    await tick();
    await manual.advance(TIMEOUT_MS / 2);
    const second = batcher.write(request(2));
    await tick();
    frames[1]!.answer(ok([2]));
    expect(await second).toEqual({ shard: SHARD, lsn: 2 });
    await manual.advance(TIMEOUT_MS / 2 - 1);
    let failure: unknown;
    first.catch((error: unknown) => (failure = error));
    await tick();
    expect(failure).toBeUndefined();
    await manual.advance(1);
    expect(isTidalError(failure, 'Timeout')).toBe(true);
    expect((failure as Error).message).toContain(`shard ${SHARD} did not answer within ${TIMEOUT_MS} ms`);
    // A late answer to the timed-out frame changes nothing.
    frames[0]!.answer(ok([1]));
    await tick();
    // The timer is armed again for a frame sent after.
    const third = batcher.write(request(3));
    await tick();
    let late: unknown;
    third.catch((error: unknown) => (late = error));
    await manual.advance(TIMEOUT_MS);
    expect(isTidalError(late, 'Timeout')).toBe(true);
  });

  it('rejects the writes of a frame whose call fails, with its error', async () => {
    const { batcher, frames } = harness();
    const written = batcher.write(request(1));
    await tick();
    const error = new Error('worker gone');
    frames[0]!.fail(error);
    await expect(written).rejects.toBe(error);
  });

  it("sends a tick's writes in more than one frame once they pass FRAME_SEND_BYTES, the first before the tick ends, in order", async () => {
    const { batcher, frames, ok } = harness();
    // Writes whose blocks are all of one size: each its own key, of one length.
    const sized = (seq: number) => {
      const ops = [{ op: 'increment' as const, key: `item-${String(seq).padStart(8, '0')}`, kind: 'click', by: 1 }];
      return { ...request(seq), ops, block: blockOf({ ...request(seq), ops }) };
    };
    const perFrame = Math.ceil(FRAME_SEND_BYTES / sized(1).block.length);
    const count = 2 * perFrame + 3;
    const written = Array.from({ length: count }, (_, i) => batcher.write(sized(i + 1)));
    // Still in the tick that issued them: the full frames are sent already.
    expect(frames.map((f) => f.seqs.length)).toEqual([perFrame, perFrame]);
    await tick();
    expect(frames.map((f) => f.seqs.length)).toEqual([perFrame, perFrame, 3]);
    expect(frames.flatMap((f) => f.seqs)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    for (const frame of frames) frame.answer(ok(frame.seqs));
    expect((await Promise.all(written)).map((token) => token.lsn)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  });

  it('shares one timer between the frames in flight, not one per frame', async () => {
    const { batcher, frames, manual, ok, timersSet } = harness();
    for (let i = 1; i <= 50; i++) {
      const written = batcher.write(request(i));
      await tick();
      frames[i - 1]!.answer(ok([i]));
      expect(await written).toEqual({ shard: SHARD, lsn: i });
      await manual.advance(10);
    }
    expect(timersSet()).toBe(1);
  });
});
