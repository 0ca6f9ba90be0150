/**
 * `EndpointTransport`: the one implementation of `Transport` behind every
 * carrier. It speaks the wire messages of `wire.ts` over a comlink-style
 * `TransportEndpoint` (`postMessage`, `addEventListener`,
 * `removeEventListener`, optional `start` and `close`), so a `MessagePort`,
 * a `BroadcastChannel`, the in-process hub and a test's fake endpoint are
 * interchangeable, and they all share the same validation, queues,
 * counters and close behaviour.
 *
 * Receive path: every incoming value goes through `parseWireMessage`; a
 * malformed one is counted and dropped (never thrown), one of a newer
 * transport protocol is counted apart and reported (`onDrop('newerVersion')`:
 * a newer tidal shares the carrier), one addressed to
 * another replica is counted as ignored, and a good one goes to a waiting
 * `recvX()` or into that lane's bounded queue. **When a queue is full the
 * new message is dropped and counted** (`dropped`): a postMessage carrier
 * has no way to push back on its sender, and the replication layer above
 * re-requests whatever it did not get acknowledged.
 *
 * Most code should use `MessagePortTransport`, `BroadcastChannelTransport`
 * or `InProcessNetwork.connect`; construct this directly only to plug in
 * another carrier.
 */
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import { isShardId, type ShardId } from '../shard/shard-id.js';
import { formatAddress, sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from './address.js';
import { TransportError } from './errors.js';
import {
  DEFAULT_MAX_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_CONTROLS,
  DEFAULT_MAX_QUEUED_SEGMENT_BYTES,
  DEFAULT_MAX_QUEUED_SEGMENTS,
  DEFAULT_MAX_SEGMENT_BYTES,
  type ControlMessage,
  type DropReason,
  type ReceivedSegment,
  type Transport,
  type TransportCounters,
  type TransportOptions,
  type WalSegmentPayload,
} from './transport.js';
import {
  isArrayBuffer,
  parseWireMessage,
  WIRE_PROTOCOL,
  type ControlWireMessage,
  type SegmentWireMessage,
  type WireBounds,
} from './wire.js';

/** The smallest surface a carrier needs (after comlink's `Endpoint`). `MessagePort` and `BroadcastChannel` fit as they are. */
export interface TransportEndpoint {
  /** Posts one message; `transfer` lists buffers to hand over (carriers that cannot transfer are never given one). */
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Subscribes to incoming messages (and to `messageerror`, counted as malformed). */
  addEventListener(type: 'message' | 'messageerror', listener: (event: MessageEvent) => void): void;
  /** Unsubscribes a listener given to `addEventListener` (on close). */
  removeEventListener(type: 'message' | 'messageerror', listener: (event: MessageEvent) => void): void;
  /** Called once after the listener is attached (a `MessagePort` needs it). */
  start?(): void;
  /** Called by `Transport.close()` when `closeEndpoint` is true. */
  close?(): void;
}

/** How an `EndpointTransport` is wired to its carrier. */
export interface EndpointTransportOptions extends TransportOptions {
  /** This replica's address; a bare shard id means `{ shard, replica: '' }`. */
  local: TransportAddress;
  /** The carrier. The transport attaches its listeners at construction. */
  endpoint: TransportEndpoint;
  /** Whether to put payload buffers in the transfer list (true for ports and workers, false for `BroadcastChannel`). */
  transfer: boolean;
  /** Whether `to` can be reached through this carrier; a send to anything else rejects with `UnknownPeer`. */
  canReach: (to: PeerAddress) => boolean;
  /** When given, messages whose sender fails it are counted as malformed (a point-to-point link knows its only peer). */
  acceptFrom?: (from: PeerAddress) => boolean;
  /** Whether `close()` also closes the endpoint. Default true. */
  closeEndpoint?: boolean;
  /** Called once by `close()`, after the listeners are detached. */
  onClose?: () => void;
}

type Waiter<T> = (value: T | null) => void;

/** A FIFO with O(1) amortized shift; compacts itself as it drains. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined as T; // let the buffer go
    this.head += 1;
    if (this.head > 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/** A `Transport` over any `TransportEndpoint`. */
export class EndpointTransport implements Transport {
  readonly localAddress: PeerAddress;
  private readonly endpoint: TransportEndpoint;
  private readonly transfer: boolean;
  private readonly canReach: (to: PeerAddress) => boolean;
  private readonly acceptFrom: ((from: PeerAddress) => boolean) | undefined;
  private readonly closeEndpoint: boolean;
  private readonly onClose: (() => void) | undefined;
  private readonly onDrop: TransportOptions['onDrop'];
  private readonly bounds: WireBounds;
  private readonly maxQueuedSegments: number;
  private readonly maxQueuedSegmentBytes: number;
  private readonly maxQueuedControls: number;

  private closed = false;
  private readonly segments = new Fifo<ReceivedSegment>();
  private queuedSegmentBytes = 0;
  private readonly controls = new Fifo<ControlMessage>();
  private readonly segmentWaiters = new Fifo<Waiter<ReceivedSegment>>();
  private readonly controlWaiters = new Fifo<Waiter<ControlMessage>>();
  private readonly stats = { sent: 0, bytesSent: 0, received: 0, bytesReceived: 0, malformed: 0, dropped: 0, ignored: 0, newerVersion: 0 };

  private readonly onMessage = (event: MessageEvent): void => {
    this.receive(event.data);
  };
  private readonly onMessageError = (): void => {
    this.drop('malformed', 'the carrier could not deserialize a message (messageerror)');
  };

  /** Starts listening on `options.endpoint` as `options.local`; incoming messages queue for `recvSegment`/`recvControl`. */
  constructor(options: EndpointTransportOptions) {
    this.localAddress = toPeerAddress(options.local, 'local address');
    this.endpoint = options.endpoint;
    this.transfer = options.transfer;
    this.canReach = options.canReach;
    this.acceptFrom = options.acceptFrom;
    this.closeEndpoint = options.closeEndpoint ?? true;
    this.onClose = options.onClose;
    this.onDrop = options.onDrop;
    const maxSegmentBytes = integerOption('maxSegmentBytes', options.maxSegmentBytes, { min: 1, default: DEFAULT_MAX_SEGMENT_BYTES });
    const maxControlBytes = integerOption('maxControlBytes', options.maxControlBytes, { min: 1, default: DEFAULT_MAX_CONTROL_BYTES });
    this.bounds = { maxSegmentBytes, maxControlBytes };
    this.maxQueuedSegments = integerOption('maxQueuedSegments', options.maxQueuedSegments, {
      min: 1,
      default: DEFAULT_MAX_QUEUED_SEGMENTS,
    });
    this.maxQueuedSegmentBytes = integerOption('maxQueuedSegmentBytes', options.maxQueuedSegmentBytes, {
      min: 1,
      default: Math.max(DEFAULT_MAX_QUEUED_SEGMENT_BYTES, maxSegmentBytes),
    });
    if (this.maxQueuedSegmentBytes < maxSegmentBytes) {
      throw new TidalError(
        'InvalidArgument',
        `maxQueuedSegmentBytes (${this.maxQueuedSegmentBytes}) must be at least maxSegmentBytes (${maxSegmentBytes}), or no segment of the maximum size could ever be received`,
      );
    }
    this.maxQueuedControls = integerOption('maxQueuedControls', options.maxQueuedControls, {
      min: 1,
      default: DEFAULT_MAX_QUEUED_CONTROLS,
    });
    this.endpoint.addEventListener('message', this.onMessage);
    this.endpoint.addEventListener('messageerror', this.onMessageError);
    this.endpoint.start?.();
  }

  get localShard(): ShardId {
    return this.localAddress.shard;
  }

  get counters(): TransportCounters {
    return Object.freeze({ ...this.stats });
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  async sendSegment(to: TransportAddress, payload: WalSegmentPayload): Promise<void> {
    this.assertOpen();
    const dest = toPeerAddress(to, 'destination');
    const { shard, seq, bytes, eventCount } = checkPayload(payload);
    const size = bytes.byteLength;
    this.assertSendable(dest, size, this.bounds.maxSegmentBytes, 'segment');
    const message: SegmentWireMessage = {
      tidal: WIRE_PROTOCOL,
      kind: 'segment',
      from: this.localAddress,
      to: dest,
      shard,
      seq,
      eventCount,
      bytes,
    };
    this.post(message, bytes);
    this.stats.sent += 1;
    this.stats.bytesSent += size;
  }

  async sendControl(to: TransportAddress, bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    const dest = toPeerAddress(to, 'destination');
    if (!(bytes instanceof Uint8Array)) {
      throw new TidalError('InvalidArgument', 'control message bytes must be a Uint8Array');
    }
    const size = bytes.byteLength;
    this.assertSendable(dest, size, this.bounds.maxControlBytes, 'control message');
    // A copy, on purpose: the caller's view may sit in a larger buffer that
    // it keeps (posting the view would clone that whole buffer; transferring
    // it would detach it). Control messages are small and bounded.
    const own = bytes.slice().buffer;
    const message: ControlWireMessage = { tidal: WIRE_PROTOCOL, kind: 'control', from: this.localAddress, to: dest, bytes: own };
    this.post(message, own);
    this.stats.sent += 1;
    this.stats.bytesSent += size;
  }

  recvSegment(): Promise<ReceivedSegment | null> {
    if (this.closed) return Promise.resolve(null);
    const next = this.segments.shift();
    if (next) {
      this.queuedSegmentBytes -= next.bytes.byteLength;
      return Promise.resolve(next);
    }
    return new Promise((resolve) => this.segmentWaiters.push(resolve));
  }

  recvControl(): Promise<ControlMessage | null> {
    if (this.closed) return Promise.resolve(null);
    const next = this.controls.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) => this.controlWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endpoint.removeEventListener('message', this.onMessage);
    this.endpoint.removeEventListener('messageerror', this.onMessageError);
    if (this.closeEndpoint) this.endpoint.close?.();
    this.segments.clear();
    this.queuedSegmentBytes = 0;
    this.controls.clear();
    for (let w = this.segmentWaiters.shift(); w; w = this.segmentWaiters.shift()) w(null);
    for (let w = this.controlWaiters.shift(); w; w = this.controlWaiters.shift()) w(null);
    this.onClose?.();
  }

  /**
   * Hands one raw incoming value to the receive path, exactly as the
   * carrier's `message` event does. Never throws; for carriers without
   * events (and the in-process hub).
   */
  receive(raw: unknown): void {
    if (this.closed) return;
    const parsed = parseWireMessage(raw, this.bounds);
    if (!parsed.ok) {
      this.drop(parsed.newerVersion === undefined ? 'malformed' : 'newerVersion', parsed.reason, parsed.newerVersion);
      return;
    }
    const message = parsed.message;
    if (!sameAddress(message.to, this.localAddress)) {
      this.stats.ignored += 1;
      return;
    }
    if (this.acceptFrom && !this.acceptFrom(message.from)) {
      this.drop('malformed', `sender ${formatAddress(message.from)} is not this link's peer`);
      return;
    }
    const size = message.bytes.byteLength;
    if (message.kind === 'segment') {
      const segment: ReceivedSegment = Object.freeze({
        id: message.id,
        bytes: message.bytes,
        eventCount: message.eventCount,
        from: message.from,
      });
      const waiter = this.segmentWaiters.shift();
      if (waiter) {
        waiter(segment);
      } else if (this.segments.length >= this.maxQueuedSegments || this.queuedSegmentBytes + size > this.maxQueuedSegmentBytes) {
        this.drop(
          'queueFull',
          `segment ${message.id.fileName()} from ${formatAddress(message.from)} dropped: ${this.segments.length} segments (${this.queuedSegmentBytes} bytes) already queued`,
        );
        return;
      } else {
        this.segments.push(segment);
        this.queuedSegmentBytes += size;
      }
    } else {
      const control: ControlMessage = Object.freeze({ from: message.from, bytes: new Uint8Array(message.bytes) });
      const waiter = this.controlWaiters.shift();
      if (waiter) {
        waiter(control);
      } else if (this.controls.length >= this.maxQueuedControls) {
        this.drop('queueFull', `control message from ${formatAddress(message.from)} dropped: ${this.controls.length} already queued`);
        return;
      } else {
        this.controls.push(control);
      }
    }
    this.stats.received += 1;
    this.stats.bytesReceived += size;
  }

  private drop(reason: DropReason, detail: string, version?: number): void {
    if (reason === 'malformed') this.stats.malformed += 1;
    else if (reason === 'newerVersion') this.stats.newerVersion += 1;
    else this.stats.dropped += 1;
    try {
      this.onDrop?.(reason, detail, version);
    } catch {
      // Reporting must never break the receive path.
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new TransportError('Closed', `the transport of ${formatAddress(this.localAddress)} is closed; open a new one`, {
        details: { shard: this.localAddress.shard, replica: this.localAddress.replica },
      });
    }
  }

  private assertSendable(dest: PeerAddress, size: number, max: number, what: string): void {
    if (size > max) {
      throw new TransportError('PayloadTooLarge', `${what} of ${size} bytes exceeds the maximum of ${max} bytes; nothing was sent`, {
        details: { size, max },
      });
    }
    if (!this.canReach(dest)) {
      throw new TransportError('UnknownPeer', `no peer ${formatAddress(dest)} is reachable from ${formatAddress(this.localAddress)}`, {
        details: { shard: dest.shard, replica: dest.replica },
      });
    }
  }

  private post(message: SegmentWireMessage | ControlWireMessage, buffer: ArrayBuffer): void {
    try {
      if (this.transfer) this.endpoint.postMessage(message, [buffer]);
      // No transfer list (a BroadcastChannel cannot transfer): the carrier
      // structured-clones the message, so the buffer is copied once per receiver.
      else this.endpoint.postMessage(message);
    } catch (cause) {
      // DataCloneError: typically a buffer that was already handed over (detached).
      throw new TidalError(
        'InvalidArgument',
        `the carrier refused the message (was its buffer already sent or detached?): ${String(cause)}`,
        { cause },
      );
    }
  }
}

function checkPayload(payload: WalSegmentPayload): { shard: number; seq: bigint; bytes: ArrayBuffer; eventCount: number } {
  if (typeof payload !== 'object' || payload === null) {
    throw new TidalError('InvalidArgument', 'a segment payload must be an object { id, bytes, eventCount }');
  }
  const { id, bytes, eventCount } = payload;
  const shard = (id as { shard?: unknown } | null)?.shard;
  const seq = (id as { seq?: unknown } | null)?.seq;
  if (!isShardId(shard) || typeof seq !== 'bigint' || seq < 0n || seq >= 1n << 64n) {
    throw new TidalError('InvalidArgument', 'payload.id must be a WalSegmentId (u16 shard, u64 bigint seq)');
  }
  if (!isArrayBuffer(bytes)) {
    throw new TidalError('InvalidArgument', 'payload.bytes must be an ArrayBuffer (not a view, not shared)');
  }
  if (bytes.byteLength === 0 && isDetached(bytes)) {
    throw new TidalError(
      'InvalidArgument',
      'payload.bytes is detached: it was already handed over (sent or transferred); send a buffer you still own',
    );
  }
  if (!Number.isSafeInteger(eventCount) || eventCount < 0) {
    throw new TidalError('InvalidArgument', `payload.eventCount must be a non-negative safe integer, got ${String(eventCount)}`);
  }
  return { shard, seq, bytes, eventCount };
}

/** A detached buffer reports length 0 and refuses new views (`ArrayBuffer.prototype.detached` is not everywhere yet). */
function isDetached(buffer: ArrayBuffer): boolean {
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}
