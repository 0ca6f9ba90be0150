/**
 * `MemoryRemote`: an in-memory `Remote` with the same conditional
 * semantics as S3 with conditional writes (as measured on Ceph RGW: create
 * refuses an existing name, compare-and-swap refuses a moved or missing
 * ETag, exactly one of racing writers wins). For unit tests and the
 * simulation, with injectable faults: latency, lost requests and lost
 * answers (the write happened, the caller never heard), and reordering
 * (latencies drawn at random, so concurrent requests complete out of order).
 *
 *     const store = new MemoryRemote({ random: mulberry32(7), latencyMs: [0, 20], loss: 0.05, clock });
 *
 * Tests may also tamper with what is stored (`tamper`, `set`, `snapshot`),
 * as a malicious or broken store would.
 */
import { sleep, systemClock, type Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import {
  DEFAULT_LIST_LIMIT,
  checkRange,
  type GetOptions,
  type ListOptions,
  type PutOutcome,
  type Remote,
  type RemoteListing,
  type RemoteObject,
} from './remote.js';

/** Faults and clock of a `MemoryRemote`; every one defaults to none. */
export interface MemoryRemoteOptions {
  /** Source of randomness in [0, 1) for faults. Default `Math.random`. */
  readonly random?: () => number;
  /** Latency per request, drawn uniformly in [min, max] ms. Default [0, 0] (no wait at all). */
  readonly latencyMs?: readonly [number, number];
  /** Probability that a request is lost before it reaches the store. Default 0. */
  readonly loss?: number;
  /** Probability that a request's answer is lost after the store applied it. Default 0. */
  readonly answerLoss?: number;
  /** Time for the latency (a `ManualClock` in simulations). Default `systemClock`. */
  readonly clock?: Clock;
}

/** Counters of what a `MemoryRemote` served. */
export interface MemoryRemoteCounters {
  /** Requests received, lost ones included. */
  requests: number;
  /** Bytes of object content written by requests that reached the store. */
  bytesIn: number;
  /** Bytes of object content read back. */
  bytesOut: number;
  /** Requests, or their answers, dropped while `offline` or by the injected `loss` and `answerLoss`. */
  lost: number;
}

interface Stored {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

/** An in-memory object store with S3's conditional-write semantics. */
export class MemoryRemote implements Remote {
  private readonly objects = new Map<string, Stored>();
  private readonly random: () => number;
  private readonly latency: readonly [number, number];
  private readonly loss: number;
  private readonly answerLoss: number;
  private readonly clock: Clock;
  private nextEtag = 1;
  /** Requests refused or dropped while `offline` is set. */
  offline = false;
  /** Requests, bytes in and out, and requests or answers lost to injected faults, so far (live). */
  readonly counters: MemoryRemoteCounters = { requests: 0, bytesIn: 0, bytesOut: 0, lost: 0 };

  /** An empty store; `options` add latency, loss and a seeded `random` for tests. */
  constructor(options: MemoryRemoteOptions = {}) {
    this.random = options.random ?? Math.random;
    this.latency = options.latencyMs ?? [0, 0];
    this.loss = options.loss ?? 0;
    this.answerLoss = options.answerLoss ?? 0;
    this.clock = options.clock ?? systemClock;
  }

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<PutOutcome> {
    return this.request(bytes.byteLength, () => {
      if (this.objects.has(key)) return { ok: false };
      return { ok: true, etag: this.store(key, bytes) };
    });
  }

  async putIfMatch(key: string, bytes: Uint8Array, etag: string): Promise<PutOutcome> {
    return this.request(bytes.byteLength, () => {
      const current = this.objects.get(key);
      if (!current || current.etag !== etag) return { ok: false };
      return { ok: true, etag: this.store(key, bytes) };
    });
  }

  async get(key: string, options: GetOptions): Promise<RemoteObject | undefined> {
    const { range } = options;
    if (range) checkRange(range);
    return this.request(0, () => {
      const found = this.objects.get(key);
      if (!found) return undefined;
      const size = found.bytes.byteLength;
      if (size > options.maxBytes) {
        throw new TidalError('PayloadTooLarge', `object ${key} is ${size} bytes, over the ${options.maxBytes} allowed`);
      }
      if (range && range.offset >= size) {
        throw new TidalError('Truncated', `object ${key} is ${size} bytes: nothing from byte ${range.offset}`);
      }
      // A copy: callers may not change what is stored.
      const bytes = range ? found.bytes.slice(range.offset, range.offset + range.length) : found.bytes.slice();
      this.counters.bytesOut += bytes.byteLength;
      return { bytes, etag: found.etag, size };
    });
  }

  async list(prefix: string, options: ListOptions = {}): Promise<RemoteListing> {
    return this.request(0, () => {
      const limit = Math.max(1, Math.min(options.limit ?? DEFAULT_LIST_LIMIT, DEFAULT_LIST_LIMIT));
      const keys = [...this.objects.keys()]
        .filter((k) => k.startsWith(prefix) && (options.startAfter === undefined || k > options.startAfter))
        .sort();
      return {
        entries: keys.slice(0, limit).map((key) => {
          const found = this.objects.get(key)!;
          return { key, size: found.bytes.byteLength, etag: found.etag };
        }),
        truncated: keys.length > limit,
      };
    });
  }

  async delete(key: string): Promise<void> {
    return this.request(0, () => {
      this.objects.delete(key);
    });
  }

  // ---- What tests do to the store behind the clients' backs ---------------

  /** The stored bytes of `key` (a copy), or `undefined`. */
  peek(key: string): Uint8Array | undefined {
    return this.objects.get(key)?.bytes.slice();
  }

  /** Overwrites `key` unconditionally (a store serving what it wants), with a new ETag. */
  set(key: string, bytes: Uint8Array): void {
    this.store(key, bytes);
  }

  /** Flips one bit of the stored object `key`, at byte `offset` (negative: from the end). */
  tamper(key: string, offset: number): void {
    const found = this.objects.get(key);
    if (!found) throw new TidalError('InvalidArgument', `no object ${key}`);
    const bytes = found.bytes.slice();
    bytes[offset < 0 ? bytes.length + offset : offset]! ^= 0x01;
    this.store(key, bytes);
  }

  /** Every key, in order. */
  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  private store(key: string, bytes: Uint8Array): string {
    const etag = `m${(this.nextEtag++).toString(16)}`;
    this.objects.set(key, { bytes: bytes.slice(), etag });
    return etag;
  }

  private async request<T>(bytesIn: number, serve: () => T): Promise<T> {
    this.counters.requests++;
    await this.wait();
    if (this.offline || this.random() < this.loss) {
      this.counters.lost++;
      throw new TidalError('Unreachable', 'the request was lost (simulated network fault)');
    }
    this.counters.bytesIn += bytesIn;
    const result = serve();
    await this.wait();
    if (this.random() < this.answerLoss) {
      this.counters.lost++;
      throw new TidalError('Unreachable', 'the answer was lost (simulated network fault; the request was applied)');
    }
    return result;
  }

  private async wait(): Promise<void> {
    const [min, max] = this.latency;
    if (max <= 0) return;
    await sleep(this.clock, min + (max - min) * this.random());
  }
}
