/**
 * `TransportDecorator`: a `Transport` that passes everything to the one it
 * wraps. Decorators (fault injection, probes, meters) extend it and
 * override only what they change.
 *
 *     class Counting extends TransportDecorator {
 *       sent = 0;
 *       override sendSegment(to, payload) { this.sent++; return super.sendSegment(to, payload); }
 *     }
 */
import type { ShardId } from '../shard/shard-id.js';
import type { PeerAddress, TransportAddress } from './address.js';
import type { ControlMessage, ReceivedSegment, Transport, TransportCounters, WalSegmentPayload } from './transport.js';

/** Passes every call to `inner`, which it owns (`close()` closes it). */
export class TransportDecorator implements Transport {
  readonly inner: Transport;

  constructor(inner: Transport) {
    this.inner = inner;
  }

  get localShard(): ShardId {
    return this.inner.localShard;
  }

  get localAddress(): PeerAddress {
    return this.inner.localAddress;
  }

  /** The inner transport's counters (what actually went over the carrier). */
  get counters(): TransportCounters {
    return this.inner.counters;
  }

  sendSegment(to: TransportAddress, payload: WalSegmentPayload): Promise<void> {
    return this.inner.sendSegment(to, payload);
  }

  recvSegment(): Promise<ReceivedSegment | null> {
    return this.inner.recvSegment();
  }

  sendControl(to: TransportAddress, bytes: Uint8Array): Promise<void> {
    return this.inner.sendControl(to, bytes);
  }

  recvControl(): Promise<ControlMessage | null> {
    return this.inner.recvControl();
  }

  close(): void {
    this.inner.close();
  }
}
