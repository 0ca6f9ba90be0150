/**
 * `Sealer`: seals, names and opens the objects of one user's sync
 * (docs/SYNC.md §3, §4), off the calling thread where it can. Chromium's
 * WebCrypto runs AES-GCM on the thread that calls it (measured in Chromium
 * 156: `encrypt` of 10 MB resolves before the thread has run a single
 * task), and the keyed BLAKE3 of an object's name is WASM on that thread
 * too: together they were about a third of the busy time of the sync
 * bench's upload, on the thread that also reads the log and drives the
 * requests. So where there are workers (a page, a shard worker), a user's
 * keys seal in one dedicated worker (`seal.worker.ts`): the AES key goes to
 * it as its non-extractable `CryptoKey` (structured-cloneable), the naming
 * key as its hasher's state; plaintexts and sealed bytes are transferred,
 * not copied. Elsewhere (Node) and after that worker failed, on the
 * calling thread (`InlineSealer`), with the same results.
 *
 *     const sealer = sealerFor(keys);
 *     const { sealed, name } = await sealer.seal('chunk', context, plaintext, 2); // plaintext's buffer is given away
 *     const plaintext = await sealer.open('chunk', context, sealed, what, { name }); // so is sealed's
 *
 * `open` with an expected name checks the bytes against it before
 * decrypting: a moved, swapped or damaged object is `ObjectMismatch`,
 * whatever the decryption would say.
 */
import { reasonOf, TidalError, isTidalErrorCode } from '../common/errors.js';
import type { Value } from '../common/value.js';
import { SEAL_VERSIONS, namedByTag, open, seal, type ObjectKind } from './envelope.js';
import type { ObjectNameStream, SyncKeys } from './sync-key.js';

/** A sealed object and its name (keyed BLAKE3 of its bytes, 64 hex digits). */
export interface SealedObject {
  readonly sealed: Uint8Array;
  readonly name: string;
  /** `sealed` as a `Blob`, made in the seal worker (what `S3Remote` sends; absent when sealed on the calling thread). */
  readonly body?: Blob;
}

/** The name an object read must have: `hashed`, the stream its first bytes were already hashed into as they landed. */
export interface ExpectedName {
  readonly name: string;
  readonly hashed?: ObjectNameStream;
}

/** Seals and opens a user's sync objects. */
export interface Sealer {
  /** Seals `plaintext` as an object of `kind` at `context` in envelope `version`, and names it. `plaintext`'s buffer is given away. */
  seal(kind: ObjectKind, context: Value, plaintext: Uint8Array, version?: number): Promise<SealedObject>;
  /**
   * Seals `plaintext` cut into consecutive parts of `partBytes` (the last one shorter), part `i` at `contexts[i]`,
   * one after another: one promise per part, each settled as soon as that part is sealed (the first before the
   * last is). `contexts` has one context per part. `plaintext`'s buffer is given away.
   */
  sealParts(
    kind: ObjectKind,
    contexts: readonly Value[],
    plaintext: Uint8Array,
    partBytes: number,
    version?: number,
  ): Promise<SealedObject>[];
  /**
   * Opens `sealed` as an object of `kind` at `context` (envelope.ts `open`: `DecryptionFailed` and the
   * header codes), after checking it against `expected` if given (`ObjectMismatch`). `sealed`'s buffer is given away.
   */
  open(kind: ObjectKind, context: Value, sealed: Uint8Array, what: string, expected?: ExpectedName): Promise<Uint8Array>;
}

/** `ObjectMismatch` for bytes that are not the object `name` names. */
export function objectMismatch(name: string): TidalError {
  return new TidalError('ObjectMismatch', `object ${name}'s bytes do not match its name: changed, or another object's put in its place`);
}

/** Seals on the calling thread. */
export class InlineSealer implements Sealer {
  private readonly keys: SyncKeys;

  constructor(keys: SyncKeys) {
    this.keys = keys;
  }

  async seal(kind: ObjectKind, context: Value, plaintext: Uint8Array, version = SEAL_VERSIONS[kind]): Promise<SealedObject> {
    const sealed = await seal(this.keys, kind, context, plaintext, version);
    return { sealed, name: this.keys.objectName(sealed) };
  }

  sealParts(kind: ObjectKind, contexts: readonly Value[], plaintext: Uint8Array, partBytes: number, version = SEAL_VERSIONS[kind]) {
    return partsOf(plaintext, partBytes, contexts.length).map((part, i) => this.seal(kind, contexts[i]!, part, version));
  }

  async open(kind: ObjectKind, context: Value, sealed: Uint8Array, what: string, expected?: ExpectedName): Promise<Uint8Array> {
    if (expected) {
      let name: string;
      if (namedByTag(sealed)) name = this.keys.objectName(sealed);
      else {
        const names = expected.hashed ?? this.keys.objectNameStream();
        names.update(sealed.subarray(names.bytes));
        name = names.name();
      }
      if (name !== expected.name) throw objectMismatch(expected.name);
    }
    return open(this.keys, kind, context, sealed, what);
  }
}

/** `plaintext` cut into `count` consecutive parts of `partBytes` (the last one shorter), as views; `InvalidArgument` if that is not `count` parts. */
export function partsOf(plaintext: Uint8Array, partBytes: number, count: number): Uint8Array[] {
  if (!Number.isSafeInteger(partBytes) || partBytes < 1 || Math.max(1, Math.ceil(plaintext.byteLength / partBytes)) !== count)
    throw new TidalError('InvalidArgument', `${plaintext.byteLength} bytes in parts of ${partBytes} are not ${count} parts`);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) parts.push(plaintext.subarray(i * partBytes, Math.min((i + 1) * partBytes, plaintext.byteLength)));
  return parts;
}

/** What the page or shard worker posts to the seal worker. */
export type SealRequest =
  | { readonly op: 'keys'; readonly aead: CryptoKey; readonly names: Uint8Array }
  | {
      readonly op: 'seal';
      readonly id: number;
      readonly kind: ObjectKind;
      readonly context: Value;
      readonly version: number;
      readonly plaintext: Uint8Array;
    }
  | {
      /** Seals the parts of `plaintext` (`partsOf`), part `i` at `contexts[i]`, answered one by one under `ids[i]`. */
      readonly op: 'seal-parts';
      readonly id: number;
      readonly ids: readonly number[];
      readonly kind: ObjectKind;
      readonly contexts: readonly Value[];
      readonly version: number;
      readonly plaintext: Uint8Array;
      readonly partBytes: number;
    }
  | {
      readonly op: 'open';
      readonly id: number;
      readonly kind: ObjectKind;
      readonly context: Value;
      readonly what: string;
      readonly sealed: Uint8Array;
      /** The expected name, and the hash state of the first `hashedBytes` bytes (the naming key's initial state if none). */
      readonly expected: { readonly name: string; readonly state: Uint8Array | undefined; readonly hashedBytes: number } | undefined;
    };

/** What the seal worker answers, per request. */
export type SealAnswer =
  | { readonly id: number; readonly sealed: Uint8Array; readonly name: string; readonly body?: Blob }
  | { readonly id: number; readonly plaintext: Uint8Array }
  | { readonly id: number; readonly error: { readonly code: string; readonly reason: string } };

/** What the seal worker posts once it has the keys: whether it can seal. */
export type SealerReady = { readonly ready: true } | { readonly ready: false; readonly why: string };

/** A `TidalError` as the seal worker posts it (its code and message without the code's prefix). */
export function errorAnswer(id: number, error: unknown): SealAnswer {
  if (error instanceof TidalError) {
    const reason = reasonOf(error);
    return { id, error: { code: error.code, reason } };
  }
  return {
    id,
    error: { code: 'Unreachable', reason: `the seal worker failed: ${error instanceof Error ? error.message : String(error)}` },
  };
}

/** The transfer list that gives `bytes`'s whole buffer away. */
const giveAway = (bytes: Uint8Array): Transferable[] => (bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : []);

/** A request waiting for the seal worker to be ready, with the ids it is answered under, its transfer list and its caller. */
interface QueuedRequest {
  readonly request: Exclude<SealRequest, { op: 'keys' }>;
  readonly ids: readonly number[];
  readonly transfer: Transferable[];
  /** The request run on this thread instead: one answer per id. */
  readonly run: (inline: InlineSealer) => Promise<SealAnswer>[];
}

/** How long the seal worker may take to say it is ready before sealing moves to the calling thread. */
export const SEAL_WORKER_READY_MS = 10_000;
/**
 * How long the seal worker may take to answer a request once it went out
 * (its oldest unanswered one, when several are in flight): far past what
 * sealing the largest object takes (64 MiB, well under a second at the
 * AES-GCM rates measured here), so only a worker that hangs reaches it.
 */
export const SEAL_WORKER_ANSWER_MS = 30_000;

/**
 * Seals in a dedicated worker. Requests wait (their bytes still this
 * thread's) until the worker said it is ready; if it fails before that (no
 * such file: a bundler that left it out) or does not say so within
 * `readyMs`, they and every later one run on this thread. A failure after
 * that, or a request not answered within `answerMs` (a worker that hangs),
 * fails the requests in flight with `Unreachable` (their bytes went to the
 * worker; the caller's round fails and is retried), stops the worker, and
 * every later request runs on this thread.
 */
export class WorkerSealer implements Sealer {
  private readonly worker: Worker;
  private readonly inline: InlineSealer;
  private readonly answerMs: number;
  /** Requests posted and not answered, in the order posted, with when each went out. */
  private readonly pending = new Map<number, { resolve(answer: SealAnswer): void; reject(error: unknown): void; postedAt: number }>();
  private state: 'starting' | 'ready' | 'inline' = 'starting';
  private queue: QueuedRequest[] = [];
  private nextId = 1;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(worker: Worker, keys: SyncKeys, options: { readonly readyMs?: number; readonly answerMs?: number } = {}) {
    this.worker = worker;
    this.inline = new InlineSealer(keys);
    this.answerMs = options.answerMs ?? SEAL_WORKER_ANSWER_MS;
    const readyMs = options.readyMs ?? SEAL_WORKER_READY_MS;
    this.timer = setTimeout(() => this.stop(`the seal worker did not say it was ready within ${readyMs} ms`), readyMs);
    worker.onmessage = (event: MessageEvent<SealAnswer | SealerReady>) => {
      if ('ready' in event.data) return event.data.ready ? this.ready() : this.fail(`the seal worker cannot seal: ${event.data.why}`);
      const waiting = this.pending.get(event.data.id);
      this.pending.delete(event.data.id);
      waiting?.resolve(event.data);
      this.watch();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the seal worker failed: ${event.message || 'it did not start'}`);
    };
    worker.onmessageerror = () => this.fail('the seal worker answered a message that could not be read');
    const hello: SealRequest = { op: 'keys', aead: keys.aead, names: keys.namingState() };
    worker.postMessage(hello);
  }

  async seal(kind: ObjectKind, context: Value, plaintext: Uint8Array, version = SEAL_VERSIONS[kind]): Promise<SealedObject> {
    const request = { op: 'seal', id: this.nextId++, kind, context, version, plaintext } as const;
    const answer = await this.send(request, giveAway(plaintext), (inline) =>
      inline.seal(kind, context, plaintext, version).then((sealed) => ({ id: request.id, ...sealed })),
    );
    if (!('sealed' in answer)) throw new TidalError('MalformedMessage', 'the seal worker answered a seal without the sealed bytes');
    return answer;
  }

  sealParts(
    kind: ObjectKind,
    contexts: readonly Value[],
    plaintext: Uint8Array,
    partBytes: number,
    version = SEAL_VERSIONS[kind],
  ): Promise<SealedObject>[] {
    partsOf(plaintext, partBytes, contexts.length); // refused here, not in the worker
    const ids = contexts.map(() => this.nextId++);
    const request = { op: 'seal-parts', id: ids[0]!, ids, kind, contexts, version, plaintext, partBytes } as const;
    const answers = this.sendAll(request, ids, giveAway(plaintext), (inline) =>
      inline
        .sealParts(kind, contexts, plaintext, partBytes, version)
        .map((sealing, i) => sealing.then((sealed) => ({ id: ids[i]!, ...sealed }))),
    );
    return answers.map((answering) =>
      answering.then((answer) => {
        if (!('sealed' in answer)) throw new TidalError('MalformedMessage', 'the seal worker answered a seal without the sealed bytes');
        return answer;
      }),
    );
  }

  async open(kind: ObjectKind, context: Value, sealed: Uint8Array, what: string, expected?: ExpectedName): Promise<Uint8Array> {
    const hashed = expected?.hashed;
    const request = {
      op: 'open',
      id: this.nextId++,
      kind,
      context,
      what,
      sealed,
      expected: expected && { name: expected.name, state: hashed?.save(), hashedBytes: hashed?.bytes ?? 0 },
    } as const;
    const answer = await this.send(request, giveAway(sealed), (inline) =>
      inline.open(kind, context, sealed, what, expected).then((plaintext) => ({ id: request.id, plaintext })),
    );
    if (!('plaintext' in answer)) throw new TidalError('MalformedMessage', 'the seal worker answered an open without the plaintext');
    return answer.plaintext;
  }

  /** Stops the worker; later calls seal on this thread. */
  close(): void {
    this.stop('the seal worker was closed');
  }

  /** Fails over to this thread for good and terminates the worker. */
  private stop(why: string): void {
    this.fail(why);
    this.worker.terminate();
  }

  /** Times the oldest request in flight (none: no timer). */
  private watch(): void {
    if (this.state !== 'ready') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = this.pending.values().next();
    if (oldest.done) return;
    const left = Math.max(0, oldest.value.postedAt + this.answerMs - Date.now());
    this.timer = setTimeout(() => this.stop(`the seal worker did not answer a request within ${this.answerMs} ms`), left);
  }

  private send(
    request: QueuedRequest['request'],
    transfer: Transferable[],
    run: (inline: InlineSealer) => Promise<SealAnswer>,
  ): Promise<SealAnswer> {
    return this.sendAll(request, [request.id], transfer, (inline) => [run(inline)])[0]!;
  }

  /** Sends `request`, answered under each of `ids` (one answer per id, in the order of `ids`). */
  private sendAll(
    request: QueuedRequest['request'],
    ids: readonly number[],
    transfer: Transferable[],
    run: QueuedRequest['run'],
  ): Promise<SealAnswer>[] {
    if (this.state === 'inline') return run(this.inline);
    const postedAt = this.state === 'starting' ? 0 : Date.now();
    const answers = ids.map((id) =>
      new Promise<SealAnswer>((resolve, reject) => this.pending.set(id, { resolve, reject, postedAt })).then(answered),
    );
    if (this.state === 'starting') this.queue.push({ request, ids, transfer, run });
    else {
      this.worker.postMessage(request, transfer);
      if (this.timer === undefined) this.watch();
    }
    return answers;
  }

  private ready(): void {
    if (this.state !== 'starting') return;
    this.state = 'ready';
    const now = Date.now();
    for (const { request, ids, transfer } of this.queue) {
      for (const id of ids) {
        const waiting = this.pending.get(id);
        if (waiting) waiting.postedAt = now;
      }
      this.worker.postMessage(request, transfer);
    }
    this.queue = [];
    this.watch();
  }

  private fail(why: string): void {
    if (this.state === 'inline') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Requests not yet posted still hold their bytes: they run here. Those posted are lost with the worker.
    for (const { ids, run } of this.queue) {
      const answers = run(this.inline);
      ids.forEach((id, i) => {
        const waiting = this.pending.get(id);
        this.pending.delete(id);
        if (waiting) answers[i]!.then(waiting.resolve, waiting.reject);
        else answers[i]!.catch(() => undefined);
      });
    }
    this.queue = [];
    this.state = 'inline';
    const failed = new TidalError('Unreachable', why);
    for (const waiting of this.pending.values()) waiting.reject(failed);
    this.pending.clear();
  }
}

/** An answer's outcome: its `TidalError`, rebuilt, if it is one. */
function answered(answer: SealAnswer): SealAnswer {
  if ('error' in answer) {
    const { code, reason } = answer.error;
    throw new TidalError(isTidalErrorCode(code) ? code : 'Unreachable', reason);
  }
  return answer;
}

const sealers = new WeakMap<SyncKeys, Sealer>();

/**
 * The sealer of `keys` (one per keys in a thread): in a seal worker where
 * `Worker` exists (it falls back to this thread by itself if that worker
 * fails), on this thread otherwise.
 */
export function sealerFor(keys: SyncKeys): Sealer {
  let sealer = sealers.get(keys);
  if (sealer) return sealer;
  try {
    sealer =
      typeof Worker === 'undefined'
        ? new InlineSealer(keys)
        : new WorkerSealer(new Worker(new URL('./seal.worker.js', import.meta.url), { type: 'module', name: 'tidal sync sealing' }), keys);
  } catch {
    sealer = new InlineSealer(keys); // no worker here (a policy, a bundler that left it out): seal on this thread
  }
  sealers.set(keys, sealer);
  return sealer;
}
