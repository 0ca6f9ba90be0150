/**
 * `FakeHashEndpoint`: the helper worker of `BatchHasher`, in the same
 * thread, for Node tests. It answers what `batch-hash.worker.ts` answers
 * (the v2 batch digest, the buffer handed back), either at once (a
 * microtask after each request) or when the test says (`answer`), and can
 * fail as a crashed worker does (`crash`) or answer nonsense (`garble`).
 *
 *     const endpoint = new FakeHashEndpoint(await loadBlake3(), 'manual');
 *     const hasher = new BatchHasher(() => endpoint);
 *     ...; endpoint.answer(); // every request so far
 */
import type { Blake3 } from '../../common/blake3.js';
import type { BatchHashEndpoint, BatchHashReply, BatchHashRequest } from '../batch-hasher.js';
import { batchDigestV2 } from '../format.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one store for the message and error listeners
type Listener = (event: any) => void;

/** An in-thread stand-in for the batch hash worker. */
export class FakeHashEndpoint implements BatchHashEndpoint {
  /** Requests not answered yet, oldest first. */
  readonly unanswered: BatchHashRequest[] = [];
  terminated = false;
  private readonly b3: Blake3;
  private readonly mode: 'auto' | 'manual';
  private readonly listeners = new Map<string, Listener[]>();

  constructor(b3: Blake3, mode: 'auto' | 'manual') {
    this.b3 = b3;
    this.mode = mode;
  }

  postMessage(message: BatchHashRequest): void {
    if (this.terminated) return;
    this.unanswered.push(message);
    if (this.mode === 'auto') queueMicrotask(() => this.answer());
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  terminate(): void {
    this.terminated = true;
  }

  /** Answers the `count` oldest requests (default: all), as the worker would. */
  answer(count = this.unanswered.length): void {
    for (const { id, bytes, length } of this.unanswered.splice(0, count)) {
      const digest = batchDigestV2(this.b3, new Uint8Array(bytes, 0, length));
      this.emit('message', { data: { id, digest, bytes } satisfies BatchHashReply });
    }
  }

  /** Fails as a worker that crashed does: an `error` event, no answers. */
  crash(): void {
    this.emit('error', { preventDefault: () => undefined });
  }

  /** Answers the oldest request with something that is not a reply. */
  garble(): void {
    const request = this.unanswered.shift();
    if (request) this.emit('message', { data: { id: request.id, digest: 'not bytes' } });
  }

  private emit(type: string, event: object): void {
    if (this.terminated) return;
    for (const listener of this.listeners.get(type) ?? []) listener(event as MessageEvent<unknown>);
  }
}
