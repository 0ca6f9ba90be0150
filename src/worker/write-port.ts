/**
 * The write port: how a tab's main thread hands its write frames
 * (write-frame.ts) to a shard's worker and gets their outcomes back, over
 * a `MessageChannel` of their own rather than comlink. Each frame travels
 * as its bytes alone, its buffer transferred; the worker answers frames in
 * the order it settles them, each reply naming the frame by its number on
 * the port (frames are numbered by the order they are posted, which a
 * `MessagePort` keeps, so a frame carries no number of its own). A reply
 * holds the LSN of every write admitted (a `Float64Array`) and the code and
 * message of every write refused, not one object per write; a frame whose
 * writes were all admitted (nearly every one) is answered by the
 * `Float64Array` alone, the frame's number first, then the LSNs: no object
 * around it for the structured clone to walk on either side.
 *
 *     const channel = new MessageChannel();
 *     const writes = new WritePort(channel.port1);                   // main thread
 *     host.serveWrites(Comlink.transfer(channel.port2, [channel.port2]));
 *     serveWritePort(port, (frame, answered) => shardHost.write(frame, answered)); // worker
 *     const outcomes = await writes.send(frame);                     // one per write of the frame, in order
 *
 * Why not comlink: per frame it built a request object, a random id, a
 * proxy call and an argument list, and the per-call path's reply was a
 * graph of 2 objects per write for the structured clone to walk on both
 * sides. Errors keep their `TidalError` code and details as comlink's
 * handler keeps them (comlink-errors.ts). A frame the worker never answers
 * (it died, or hangs) is the caller's to time out (`TickBatcher`).
 */
import type { ShardId } from '../shard/shard-id.js';
import { errorFromWire, errorToWire, type WireError } from './comlink-errors.js';
import type { WriteOutcome } from './tab-rpc.js';

/**
 * The worker's answer to frame `n`: its writes' outcomes, or why the frame was refused whole; when
 * every write of it was admitted, `[n, ...lsns]` as one `Float64Array` (`AdmittedReply`).
 */
type WriteReply =
  | AdmittedReply
  | {
      readonly n: number;
      /** Per write of the frame, in order: its LSN, or -1 if it was refused (then in `refused`). */
      readonly lsns: Float64Array;
      /** The writes refused: their index in the frame, code and message. */
      readonly refused: readonly { readonly i: number; readonly code: string; readonly message: string }[];
    }
  | { readonly n: number; readonly error: WireError };

/** A frame whose writes were all admitted: its number, then each write's LSN, in order. */
type AdmittedReply = Float64Array;

/** The main thread's end: sends frames, settles each with the worker's reply. */
export class WritePort {
  private readonly port: MessagePort;
  private readonly shard: ShardId;
  /** Frames posted so far (the next frame's number). */
  private sent = 0;
  /** Frames posted and not answered yet, by number. */
  private readonly waiting = new Map<number, { resolve(outcomes: WriteOutcome[]): void; reject(error: unknown): void }>();

  constructor(port: MessagePort, shard: ShardId) {
    this.port = port;
    this.shard = shard;
    port.onmessage = (event: MessageEvent) => this.settle(event.data);
  }

  /** Sends `frame` (its buffer is transferred: the caller must not use it again); its writes' outcomes, in order. */
  send(frame: Uint8Array): Promise<WriteOutcome[]> {
    const n = this.sent++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      this.waiting.set(n, { resolve, reject });
      this.port.postMessage(frame, [frame.buffer]);
    });
  }

  /** Stops listening (the worker was replaced): frames not answered stay unsettled, for their sender to time out. */
  close(): void {
    this.port.onmessage = null;
    this.port.close();
  }

  private settle(reply: unknown): void {
    if (reply instanceof Float64Array) return this.settleAdmitted(reply);
    const r = reply as Partial<Exclude<WriteReply, AdmittedReply>> | null;
    const waiter = typeof r?.n === 'number' ? this.waiting.get(r.n) : undefined;
    if (!waiter) return; // not a reply to a frame in flight: nothing to settle
    this.waiting.delete(r!.n!);
    if ('error' in r!) return waiter.reject(errorFromWire(r.error!));
    const { lsns, refused } = r as Extract<WriteReply, { lsns: Float64Array }>;
    this.resolveWith(waiter, lsns, refused);
  }

  /** Settles the frame an `AdmittedReply` answers. */
  private settleAdmitted(reply: AdmittedReply): void {
    const n = reply.length > 0 ? reply[0]! : -1;
    const waiter = this.waiting.get(n);
    if (!waiter) return; // not a reply to a frame in flight: nothing to settle
    this.waiting.delete(n);
    this.resolveWith(waiter, reply.subarray(1), []);
  }

  private resolveWith(
    waiter: { resolve(outcomes: WriteOutcome[]): void },
    lsns: Float64Array,
    refused: readonly { readonly i: number; readonly code: string; readonly message: string }[],
  ): void {
    const outcomes: WriteOutcome[] = new Array<WriteOutcome>(lsns.length);
    for (let i = 0; i < lsns.length; i++) if (lsns[i]! >= 0) outcomes[i] = { ok: true, token: { shard: this.shard, lsn: lsns[i]! } };
    for (const { i, code, message } of refused) outcomes[i] = { ok: false, code, message };
    waiter.resolve(outcomes);
  }
}

/**
 * The worker's end: admits each frame that arrives on `port` with `write`
 * and answers it, once: when `write` calls its `answered` with the
 * outcomes (a leader does as soon as the frame's batch is committed,
 * before applying it), else when its promise settles. Whatever arrives is
 * checked by `write` (a frame that is not one is refused whole,
 * `MalformedMessage`); nothing that arrives throws here.
 */
export function serveWritePort(
  port: MessagePort,
  write: (frame: Uint8Array, answered: (outcomes: WriteOutcome[]) => void) => Promise<WriteOutcome[]>,
): void {
  let received = 0;
  port.onmessage = (event: MessageEvent) => {
    const n = received++;
    let replied = false;
    const reply = (outcomes: WriteOutcome[]) => {
      if (replied) return;
      replied = true;
      postOutcomes(port, n, outcomes);
    };
    let written: Promise<WriteOutcome[]>;
    try {
      written = write(event.data as Uint8Array, reply);
    } catch (error) {
      written = Promise.reject(error);
    }
    written.then(reply, (error: unknown) => {
      if (replied) return;
      replied = true;
      const answer: WriteReply = { n, error: errorToWire(error) };
      port.postMessage(answer);
    });
  };
}

/** Answers frame `n` with its writes' outcomes: an `AdmittedReply` when all were admitted. */
function postOutcomes(port: MessagePort, n: number, outcomes: readonly WriteOutcome[]): void {
  const admitted: AdmittedReply = new Float64Array(outcomes.length + 1);
  admitted[0] = n;
  const refused: { i: number; code: string; message: string }[] = [];
  outcomes.forEach((outcome, i) => {
    if (outcome.ok) admitted[i + 1] = outcome.token.lsn;
    else {
      admitted[i + 1] = -1;
      refused.push({ i, code: outcome.code, message: outcome.message });
    }
  });
  if (refused.length === 0) {
    port.postMessage(admitted, [admitted.buffer]);
    return;
  }
  const lsns = admitted.slice(1);
  const reply: WriteReply = { n, lsns, refused };
  port.postMessage(reply, [lsns.buffer]);
}
