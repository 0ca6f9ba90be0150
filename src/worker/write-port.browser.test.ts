/**
 * The write port over a real `MessageChannel` in Chromium: frames
 * transferred, each reply settling its own frame (whatever order the
 * worker settles them in), every write's outcome kept, and a frame
 * refused whole with its error's code and details.
 */
import { describe, expect, it } from 'vitest';
import { TidalError, isTidalError } from '../common/errors.js';
import type { WriteOutcome } from './tab-rpc.js';
import { incrementRequest as request } from './testing/write-requests.js';
import { decodeWriteFrame, encodeWriteFrame } from './write-frame.js';
import { WritePort, serveWritePort } from './write-port.js';

const SHARD = 2;

/** Both ends of a port; the worker's end admits each frame with `write`. */
function ports(write: (frame: Uint8Array, answered: (outcomes: WriteOutcome[]) => void) => Promise<WriteOutcome[]>): WritePort {
  const channel = new MessageChannel();
  serveWritePort(channel.port2, write);
  return new WritePort(channel.port1, SHARD);
}

describe('WritePort', () => {
  it("settles each frame with its own writes' outcomes, in the order of its writes, whatever order they are answered in", async () => {
    const answers: (() => void)[] = [];
    const writes = ports(
      (frame) =>
        new Promise((resolve) => {
          const seqs = decodeWriteFrame(frame, SHARD).map((entry) => (entry.ok ? entry.request.seq : -1));
          const outcomes = seqs.map((seq): WriteOutcome =>
            seq % 3 === 0
              ? { ok: false, code: 'Overflow', message: `write ${seq} too much` }
              : { ok: true, token: { shard: SHARD, lsn: 100 + seq } },
          );
          answers.push(() => resolve(outcomes));
        }),
    );
    const first = writes.send(encodeWriteFrame(SHARD, [request(1), request(2), request(3)]));
    const second = writes.send(encodeWriteFrame(SHARD, [request(4), request(5), request(6)]));
    await expect.poll(() => answers.length).toBe(2);
    answers[1]!(); // the second frame first
    expect(await second).toEqual([
      { ok: true, token: { shard: SHARD, lsn: 104 } },
      { ok: true, token: { shard: SHARD, lsn: 105 } },
      { ok: false, code: 'Overflow', message: 'write 6 too much' },
    ]);
    answers[0]!();
    expect(await first).toEqual([
      { ok: true, token: { shard: SHARD, lsn: 101 } },
      { ok: true, token: { shard: SHARD, lsn: 102 } },
      { ok: false, code: 'Overflow', message: 'write 3 too much' },
    ]);
  });

  it('settles a frame with the outcomes the worker answers early (a leader, once committed), once, and later frames with their own', async () => {
    let applied: () => void = () => undefined;
    const writes = ports((frame, answered) => {
      const lsns = decodeWriteFrame(frame, SHARD).map((entry) => (entry.ok ? 200 + entry.request.seq : -1));
      answered(lsns.map((lsn): WriteOutcome => ({ ok: true, token: { shard: SHARD, lsn } })));
      // The promise settles later, once the writes are applied, with what was answered: no second reply.
      return new Promise((resolve) => (applied = () => resolve(lsns.map((lsn) => ({ ok: true, token: { shard: SHARD, lsn } })))));
    });
    expect(await writes.send(encodeWriteFrame(SHARD, [request(1), request(2)]))).toEqual([
      { ok: true, token: { shard: SHARD, lsn: 201 } },
      { ok: true, token: { shard: SHARD, lsn: 202 } },
    ]);
    applied();
    expect(await writes.send(encodeWriteFrame(SHARD, [request(3)]))).toEqual([{ ok: true, token: { shard: SHARD, lsn: 203 } }]);
  });

  it('transfers the frame: the sender no longer holds its bytes', async () => {
    const writes = ports(async (frame) => decodeWriteFrame(frame, SHARD).map(() => ({ ok: true, token: { shard: SHARD, lsn: 1 } })));
    const frame = encodeWriteFrame(SHARD, [request(1)]);
    const sent = writes.send(frame);
    expect(frame.buffer.byteLength).toBe(0);
    expect(await sent).toEqual([{ ok: true, token: { shard: SHARD, lsn: 1 } }]);
  });

  it('rejects a frame refused whole with the TidalError the worker threw: its code, message and details', async () => {
    const writes = ports(async () => {
      throw new TidalError('Closed', 'shard 2 has no leader ready yet', { details: { shard: 2 } });
    });
    const error: unknown = await writes.send(encodeWriteFrame(SHARD, [request(1)])).catch((e: unknown) => e);
    expect(isTidalError(error, 'Closed')).toBe(true);
    expect((error as TidalError).message).toBe('Closed: shard 2 has no leader ready yet');
    expect((error as TidalError).details).toEqual({ shard: 2 });
  });

  it('answers what is not a frame with MalformedMessage, and an error of another kind with its message', async () => {
    const malformed = ports((frame) =>
      Promise.resolve(decodeWriteFrame(frame, SHARD).map(() => ({ ok: true, token: { shard: SHARD, lsn: 1 } }))),
    );
    const notAFrame = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const refused: unknown = await malformed.send(notAFrame).catch((e: unknown) => e);
    expect(isTidalError(refused, 'MalformedMessage')).toBe(true);

    const other = ports(() => {
      throw new RangeError('the worker broke');
    });
    const broke: unknown = await other.send(encodeWriteFrame(SHARD, [request(1)])).catch((e: unknown) => e);
    expect(broke).toBeInstanceOf(Error);
    expect(isTidalError(broke)).toBe(false);
    expect((broke as Error).message).toBe('the worker broke');
  });
});
