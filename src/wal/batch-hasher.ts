/**
 * `BatchHasher`: batch digests computed in a helper worker
 * (`batch-hash.worker.ts`) while the WAL's own thread writes and flushes
 * the batches ahead of them. A durable append is a write, a flush and a
 * BLAKE3 of every byte, all synchronous; on one thread they add up, but
 * the digest of a batch queued behind another needs nothing from storage,
 * so it can run elsewhere while the one ahead is written.
 *
 *     const request = hasher.request(batch);        // a copy goes to the worker (batch[0..40) and payload)
 *     ...                                           // the batches ahead are written meanwhile
 *     const digest = await hasher.digestOf(request); // undefined: hash it here (not back in time, worker gone)
 *
 * The helper only ever saves time: it never decides whether a batch is
 * written. A digest not back after a couple of turns of the event loop is
 * computed on the calling thread instead (its late answer is dropped), a
 * helper that fails (cannot load, crashes) is abandoned and every digest is
 * computed here from then on, and requests beyond `MAX_IN_FLIGHT`
 * unanswered ones are refused, so a helper that hangs costs those turns
 * and nothing more. Answers are checked for shape before use.
 *
 * Copies go in pooled buffers that are transferred to the helper and back,
 * so that a batch costs one `set` and no allocation.
 */
import { DIGEST_BYTES } from '../common/blake3.js';
import { yieldToEventLoop } from '../common/yield.js';

/** What the WAL asks the helper: the digest of the v2 batch in `bytes[0..length)`. */
export interface BatchHashRequest {
  readonly id: number;
  readonly bytes: ArrayBuffer;
  readonly length: number;
}

/** The helper's answer: the digest, and the buffer handed back for reuse. */
export interface BatchHashReply {
  readonly id: number;
  readonly digest: Uint8Array;
  readonly bytes: ArrayBuffer;
}

/** What the hasher talks to: a `Worker` running `batch-hash.worker.ts`, or a fake in tests. */
export interface BatchHashEndpoint {
  postMessage(message: BatchHashRequest, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<unknown>) => void): void;
  addEventListener(type: 'error' | 'messageerror', listener: (event: Event) => void): void;
  terminate(): void;
}

/** A digest asked of the helper. */
export interface DigestRequest {
  readonly id: number;
  /** Set once the helper answered. */
  digest: Uint8Array | undefined;
  /** Resolves when the helper answers or is abandoned. */
  readonly settled: Promise<void>;
}

interface InFlight {
  readonly request: DigestRequest;
  readonly settle: () => void;
}

/** Unanswered requests beyond which `request` refuses (a slow or hung helper is not fed more). */
export const MAX_IN_FLIGHT = 8;
/** Turns of the event loop `digestOf` waits for an answer before giving up on it. */
export const MAX_YIELDS = 1;
/**
 * Smallest batch worth sending: below it, copying it out and taking the
 * answer in (about 0.1 ms a batch in Chromium) costs more than hashing it
 * here (BLAKE3 runs at about 600 MB/s, 0.1 ms for 64 KiB).
 */
export const MIN_REQUEST_BYTES = 64 * 1024;
/** Pooled buffers kept for reuse; larger batches than this many bytes get a buffer of their own. */
const MAX_POOLED_BYTES = 1024 * 1024;

/** The helper worker as bundlers build it (Vite, webpack follow this `new URL`). */
function spawnHashWorker(): BatchHashEndpoint | undefined {
  if (typeof Worker !== 'function') return undefined;
  return new Worker(new URL('./batch-hash.worker.js', import.meta.url), { type: 'module', name: 'tidal batch hash' });
}

/** Digests of batches, computed by a helper worker started on first use. */
export class BatchHasher {
  private readonly spawn: () => BatchHashEndpoint | undefined;
  private readonly minRequestBytes: number;
  private endpoint: BatchHashEndpoint | undefined;
  /** False once the helper could not start or failed: every digest is computed by the caller. */
  private usable = true;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly pool: ArrayBuffer[] = [];
  /** Requests sent to the helper, and digests of its that `digestOf` handed out (the rest were computed by the callers). */
  readonly counts = { requested: 0, used: 0 };

  /**
   * `spawn` starts the helper (default: `batch-hash.worker.ts`, where
   * `Worker` exists; `undefined` means none); batches smaller than
   * `minRequestBytes` (default `MIN_REQUEST_BYTES`) are left to the caller.
   */
  constructor(spawn: () => BatchHashEndpoint | undefined = spawnHashWorker, options: { readonly minRequestBytes?: number } = {}) {
    this.spawn = spawn;
    this.minRequestBytes = options.minRequestBytes ?? MIN_REQUEST_BYTES;
  }

  /** Whether requests can be made now (a helper that failed never comes back). */
  get available(): boolean {
    return this.usable && this.inFlight.size < MAX_IN_FLIGHT;
  }

  /**
   * Sends a copy of the v2 batch `batch` (fields in `[0..40)`, payload from
   * 72) to the helper; `undefined` when it is not worth it (smaller than
   * `minRequestBytes`) or it cannot be asked now (none, failed, too many
   * unanswered).
   */
  request(batch: Uint8Array): DigestRequest | undefined {
    if (batch.length < this.minRequestBytes || !this.available) return undefined;
    const endpoint = this.endpoint ?? this.start();
    if (!endpoint) return undefined;
    const bytes = this.takeBuffer(batch.length);
    new Uint8Array(bytes, 0, batch.length).set(batch);
    const id = this.nextId++;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const request: DigestRequest = { id, digest: undefined, settled };
    this.inFlight.set(id, { request, settle });
    try {
      endpoint.postMessage({ id, bytes, length: batch.length }, [bytes]);
    } catch {
      this.abandon();
      return undefined;
    }
    this.counts.requested++;
    return request;
  }

  /**
   * The digest the helper computed for `request`, waiting up to
   * `MAX_YIELDS` turns of the event loop for it; `undefined` if it is not
   * there by then (the caller computes it).
   */
  async digestOf(request: DigestRequest): Promise<Uint8Array | undefined> {
    for (let turn = 0; request.digest === undefined && turn < MAX_YIELDS && this.inFlight.has(request.id); turn++) {
      await Promise.race([request.settled, yieldToEventLoop()]);
    }
    if (request.digest) this.counts.used++;
    return request.digest;
  }

  /** Stops the helper; later requests are refused. */
  close(): void {
    this.abandon();
  }

  private start(): BatchHashEndpoint | undefined {
    let endpoint: BatchHashEndpoint | undefined;
    try {
      endpoint = this.spawn();
    } catch {
      endpoint = undefined;
    }
    if (!endpoint) {
      this.usable = false;
      return undefined;
    }
    endpoint.addEventListener('message', (event) => this.answered(event.data));
    // Handled here (the digests are computed by the callers from now on): not an uncaught error of this worker.
    endpoint.addEventListener('error', (event) => {
      event.preventDefault();
      this.abandon();
    });
    endpoint.addEventListener('messageerror', () => this.abandon());
    this.endpoint = endpoint;
    return endpoint;
  }

  private answered(reply: unknown): void {
    if (!isReply(reply)) {
      // Not what the helper sends: it cannot be trusted with digests any more.
      this.abandon();
      return;
    }
    const entry = this.inFlight.get(reply.id);
    if (!entry) return;
    this.inFlight.delete(reply.id);
    if (reply.bytes.byteLength <= MAX_POOLED_BYTES && this.pool.length < MAX_IN_FLIGHT) this.pool.push(reply.bytes);
    entry.request.digest = reply.digest;
    entry.settle();
  }

  /** Gives up on the helper: what it still owes is computed by the callers. */
  private abandon(): void {
    this.usable = false;
    const endpoint = this.endpoint;
    this.endpoint = undefined;
    try {
      endpoint?.terminate();
    } catch {
      // already gone
    }
    for (const { settle } of this.inFlight.values()) settle();
    this.inFlight.clear();
    this.pool.length = 0;
  }

  private takeBuffer(bytes: number): ArrayBuffer {
    for (let i = this.pool.length - 1; i >= 0; i--) {
      const buffer = this.pool[i]!;
      if (buffer.byteLength >= bytes) {
        this.pool.splice(i, 1);
        return buffer;
      }
    }
    // Rounded up, so that batches of about one size share buffers.
    return new ArrayBuffer(bytes <= MAX_POOLED_BYTES ? Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(bytes))) : bytes);
  }
}

function isReply(reply: unknown): reply is BatchHashReply {
  if (typeof reply !== 'object' || reply === null) return false;
  const { id, digest, bytes } = reply as Partial<BatchHashReply>;
  return typeof id === 'number' && digest instanceof Uint8Array && digest.length === DIGEST_BYTES && bytes instanceof ArrayBuffer;
}

let shared: BatchHasher | undefined;

/** The realm's hasher, shared by its WALs (one helper worker per worker that writes a log). */
export function sharedBatchHasher(): BatchHasher {
  shared ??= new BatchHasher();
  return shared;
}
