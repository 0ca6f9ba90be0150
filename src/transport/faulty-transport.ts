/**
 * `FaultyTransport`: a `Transport` decorator that damages outgoing segments
 * on purpose, for tests, soak runs and the demo's "corrupt the next payload
 * in flight" button. It wraps any transport and behaves exactly like it
 * (same addresses, same counters, control lane untouched) except for the
 * segments it is told to damage:
 *
 *     const link = new FaultyTransport(new MessagePortTransport(port, { local, remote }));
 *     link.injectNext('flip');                 // the next segment sent arrives with one byte inverted
 *     link.injectNext('truncate', { at: 10 }); // the one after keeps only its first 10 bytes
 *     const soak = new FaultyTransport(inner, { seed: 7, rates: { drop: 0.05, duplicate: 0.05 } });
 *
 * Faults, each applied to the next outgoing segment (in the order injected;
 * when none is queued, the seeded random mode may pick one):
 * - `flip`: one byte inverted (`at`, default a random index);
 * - `drop`: never sent;
 * - `duplicate`: sent twice, the original then a copy;
 * - `reorder`: held, and sent right after the next segment;
 * - `truncate`: only the first `at` bytes sent (default a random length
 *   shorter than the payload).
 *
 * Bytes: a segment without a fault is handed to the inner transport
 * untouched, so its transfer semantics stay (transferred and detached on a
 * `MessagePortTransport`, cloned on a `BroadcastChannelTransport`). A
 * damaged segment is first *moved* out of the caller's buffer (a zero-copy
 * `structuredClone` transfer): the caller's `ArrayBuffer` is detached after
 * `sendSegment` whatever the inner carrier, and the fault never writes into
 * memory the caller can still see. So `flip` needs no copy (it inverts a
 * byte of the moved buffer), and only two faults copy bytes, because they
 * must: `duplicate` (the whole payload: a second delivery needs a second
 * buffer on a transferring carrier) and `truncate` (the kept prefix: an
 * `ArrayBuffer` cannot be shortened in place). `faults.copiedBytes` counts
 * every byte copied.
 *
 * A dropped or held segment never reaches the inner transport at the time
 * of the call, so the inner's bound and reachability checks do not run for
 * it (it is "lost in flight"); a held segment the inner refuses when it is
 * finally sent is lost too. `close()` discards a held segment.
 */
import { TidalError } from '../common/errors.js';
import { mulberry32 } from '../common/random.js';
import { formatAddress, type TransportAddress } from './address.js';
import { TransportError } from './errors.js';
import type { Transport, WalSegmentPayload } from './transport.js';
import { TransportDecorator } from './transport-decorator.js';
import { isArrayBuffer } from './wire.js';

/** A fault `FaultyTransport` can inject into an outgoing segment. */
export type SegmentFault = 'flip' | 'drop' | 'duplicate' | 'reorder' | 'truncate';

/** Every `SegmentFault`, in a fixed order (the order random mode rolls them in). */
export const SEGMENT_FAULTS: readonly SegmentFault[] = Object.freeze(['flip', 'drop', 'duplicate', 'reorder', 'truncate']);

/** Where a fault applies: for `flip` the index of the byte to invert, for `truncate` how many leading bytes to keep. Ignored by the other faults. */
export interface FaultPosition {
  /** A byte index (`flip`, must be below the payload size) or a length (`truncate`, must be below the payload size). Default: drawn from the transport's random source. */
  readonly at?: number;
}

/** How a `FaultyTransport` draws random positions and random faults. */
export interface FaultyTransportOptions {
  /** Seed of the built-in PRNG (mulberry32), so that a failing run can be replayed. Default 1. */
  readonly seed?: number;
  /** A random source in [0, 1) to use instead of the seeded PRNG. */
  readonly random?: () => number;
  /**
   * Random mode: the probability of each fault for every outgoing segment
   * that has no injected fault. Each rate is in [0, 1] and they sum to at
   * most 1. Default: no random faults.
   */
  readonly rates?: Partial<Readonly<Record<SegmentFault, number>>>;
}

/** What a `FaultyTransport` did to the segments sent through it. */
export interface FaultCounters {
  readonly flip: number;
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: number;
  readonly truncate: number;
  /** Segments handed to the inner transport untouched. */
  readonly passed: number;
  /** Bytes copied to build damaged segments (duplicates and truncations). */
  readonly copiedBytes: number;
}

interface QueuedFault {
  readonly fault: SegmentFault;
  readonly at: number | undefined;
}

interface HeldSegment {
  readonly to: TransportAddress;
  readonly payload: WalSegmentPayload;
}

/** A `Transport` that injects faults into the segments it sends. */
export class FaultyTransport extends TransportDecorator {
  private readonly random: () => number;
  private readonly rates: readonly (readonly [SegmentFault, number])[];
  private readonly queue: QueuedFault[] = [];
  private held: HeldSegment | undefined;
  private closed = false;
  private readonly tally = { flip: 0, drop: 0, duplicate: 0, reorder: 0, truncate: 0, passed: 0, copiedBytes: 0 };

  /** Wraps `inner`; the decorator owns it from now on (`close()` closes it). */
  constructor(inner: Transport, options: FaultyTransportOptions = {}) {
    super(inner);
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new TidalError('InvalidArgument', 'FaultyTransport random must be a function returning numbers in [0, 1)');
    }
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
      throw new TidalError('InvalidArgument', `FaultyTransport seed must be a safe integer, got ${String(options.seed)}`);
    }
    this.random = options.random ?? mulberry32(options.seed ?? 1);
    this.rates = checkRates(options.rates ?? {});
  }

  /** A snapshot of the faults applied so far. */
  get faults(): FaultCounters {
    return Object.freeze({ ...this.tally });
  }

  /** Faults injected and not yet applied, in the order they will be. */
  get pendingFaults(): readonly SegmentFault[] {
    return this.queue.map((q) => q.fault);
  }

  /** True while a `reorder` holds a segment back. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /**
   * Queues `fault` for the next outgoing segment it can apply to (after the
   * faults queued before it). `flip` and `truncate` wait for a non-empty
   * segment (an empty one cannot be altered) and, with `at`, for one larger
   * than `at`; `reorder` waits while a segment is already held.
   */
  injectNext(fault: SegmentFault, position: FaultPosition = {}): void {
    if (!SEGMENT_FAULTS.includes(fault)) {
      throw new TidalError('InvalidArgument', `unknown fault ${JSON.stringify(fault)}; expected one of ${SEGMENT_FAULTS.join(', ')}`);
    }
    const at = position.at;
    if (at !== undefined && (!Number.isSafeInteger(at) || at < 0)) {
      throw new TidalError('InvalidArgument', `fault position must be a non-negative integer, got ${String(at)}`);
    }
    this.queue.push({ fault, at });
  }

  /** Sends the segment a `reorder` is holding, now (if any). Resolves once it is queued by the inner transport; an inner refusal loses it. */
  async releaseHeld(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held) await this.inner.sendSegment(held.to, held.payload).catch(() => undefined);
  }

  override async sendSegment(to: TransportAddress, payload: WalSegmentPayload): Promise<void> {
    this.assertOpen();
    const bytes = (payload as { bytes?: unknown } | null)?.bytes;
    const size = isArrayBuffer(bytes) && !isDetached(bytes) ? bytes.byteLength : undefined;
    // A payload the inner would refuse is passed on untouched, so the caller gets the inner's own error.
    const chosen = size === undefined ? undefined : this.choose(size);
    if (!chosen) {
      try {
        await this.inner.sendSegment(to, payload);
        this.tally.passed++;
      } finally {
        if (size !== undefined) await this.releaseHeld();
      }
      return;
    }
    const heldBefore = this.held;
    if (heldBefore) this.held = undefined;
    // Move the bytes out of the caller's buffer (zero copy): from here on the fault owns them.
    const moved = { ...payload, bytes: structuredClone(payload.bytes, { transfer: [payload.bytes] }) };
    try {
      await this.apply(chosen, to, moved, size!);
    } finally {
      if (heldBefore) await this.inner.sendSegment(heldBefore.to, heldBefore.payload).catch(() => undefined);
    }
  }

  override sendControl(to: TransportAddress, bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    return super.sendControl(to, bytes);
  }

  /** Discards a held segment and closes the inner transport. Idempotent. */
  override close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = undefined;
    this.queue.length = 0;
    super.close();
  }

  /** The fault for a segment of `size` bytes: the first queued one that can apply, else a random roll. */
  private choose(size: number): QueuedFault | undefined {
    const head = this.queue[0];
    if (head) {
      if (!this.applicable(head, size)) return undefined; // it waits for a segment it can apply to
      this.queue.shift();
      return head;
    }
    if (this.rates.length === 0) return undefined;
    let roll = this.random();
    for (const [fault, rate] of this.rates) {
      if (roll < rate) {
        const candidate = { fault, at: undefined };
        return this.applicable(candidate, size) ? candidate : undefined;
      }
      roll -= rate;
    }
    return undefined;
  }

  private applicable({ fault, at }: QueuedFault, size: number): boolean {
    if (fault === 'flip' || fault === 'truncate') return size > 0 && (at === undefined || at < size);
    if (fault === 'reorder') return this.held === undefined;
    return true;
  }

  private async apply({ fault, at }: QueuedFault, to: TransportAddress, payload: WalSegmentPayload, size: number): Promise<void> {
    switch (fault) {
      case 'drop':
        this.tally.drop++;
        return;
      case 'reorder':
        this.tally.reorder++;
        this.held = { to, payload };
        return;
      case 'flip': {
        const index = at ?? Math.floor(this.random() * size);
        const view = new Uint8Array(payload.bytes);
        view[index] = view[index]! ^ 0xff; // the moved buffer is ours alone: no copy needed
        this.tally.flip++;
        await this.inner.sendSegment(to, payload);
        return;
      }
      case 'truncate': {
        const length = at ?? Math.floor(this.random() * size);
        // A copy: an ArrayBuffer cannot be shortened in place.
        const prefix = payload.bytes.slice(0, length);
        this.tally.copiedBytes += length;
        this.tally.truncate++;
        await this.inner.sendSegment(to, { ...payload, bytes: prefix });
        return;
      }
      case 'duplicate': {
        // A copy: on a transferring carrier the first send detaches the original.
        const copy = payload.bytes.slice(0);
        this.tally.copiedBytes += size;
        this.tally.duplicate++;
        await this.inner.sendSegment(to, payload);
        await this.inner.sendSegment(to, { ...payload, bytes: copy });
        return;
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): TransportError {
    return new TransportError('Closed', `the faulty transport of ${formatAddress(this.inner.localAddress)} is closed; open a new one`, {
      details: { shard: this.inner.localAddress.shard, replica: this.inner.localAddress.replica },
    });
  }
}

function checkRates(rates: Partial<Readonly<Record<SegmentFault, number>>>): (readonly [SegmentFault, number])[] {
  if (typeof rates !== 'object' || rates === null)
    throw new TidalError('InvalidArgument', 'FaultyTransport rates must be an object of fault → probability');
  for (const key of Object.keys(rates)) {
    if (!SEGMENT_FAULTS.includes(key as SegmentFault)) {
      throw new TidalError(
        'InvalidArgument',
        `unknown fault ${JSON.stringify(key)} in rates; expected some of ${SEGMENT_FAULTS.join(', ')}`,
      );
    }
  }
  const out: (readonly [SegmentFault, number])[] = [];
  let sum = 0;
  for (const fault of SEGMENT_FAULTS) {
    const rate = rates[fault];
    if (rate === undefined) continue;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
      throw new TidalError('InvalidArgument', `rate of ${fault} must be a number in [0, 1], got ${String(rate)}`);
    }
    sum += rate;
    if (rate > 0) out.push([fault, rate]);
  }
  if (sum > 1 + 1e-9) throw new TidalError('InvalidArgument', `fault rates sum to ${sum}; they must sum to at most 1`);
  return out;
}

/** A detached buffer reports length 0 and refuses new views. */
function isDetached(buffer: ArrayBuffer): boolean {
  if (buffer.byteLength > 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}
