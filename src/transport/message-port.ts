/**
 * `MessagePortTransport`: a point-to-point link between two replicas over
 * one end of a `MessageChannel` (typically a leader's worker and a
 * follower's worker). Segment buffers go in the transfer list, so they
 * move without a copy and **the sender's `ArrayBuffer` is detached** once
 * `sendSegment` returns.
 *
 * A port has exactly one peer, `remote`: a send to any other address
 * rejects with `UnknownPeer`, and a message claiming another sender is
 * counted as malformed. Give each link its own `MessageChannel`, used by
 * nothing else.
 *
 *     const { port1, port2 } = new MessageChannel();
 *     leaderWorker.postMessage({ port: port2 }, [port2]);   // the follower side builds the mirror image
 *     const link = new MessagePortTransport(port1, { local: 3, remote: { shard: 3, replica: 'f1' } });
 *     await link.sendSegment({ shard: 3, replica: 'f1' }, payload); // payload.bytes is now detached
 */
import { sameAddress, toPeerAddress, type PeerAddress, type TransportAddress } from './address.js';
import { EndpointTransport, type TransportEndpoint } from './endpoint-transport.js';
import type { TransportOptions } from './transport.js';

/** How a `MessagePortTransport` is wired. */
export interface MessagePortTransportOptions extends TransportOptions {
  /** This replica's address. */
  local: TransportAddress;
  /** The one replica at the other end of the port. */
  remote: TransportAddress;
  /** Whether `close()` also closes the port. Default true. */
  closePort?: boolean;
}

/** A `Transport` over one `MessagePort`, transferring segment buffers. */
export class MessagePortTransport extends EndpointTransport {
  /** The replica at the other end. */
  readonly remoteAddress: PeerAddress;

  /** Attaches to `port` (and starts it); the transport owns the port from now on. */
  constructor(port: MessagePort | TransportEndpoint, options: MessagePortTransportOptions) {
    const remote = toPeerAddress(options.remote, 'remote address');
    super({
      ...options,
      endpoint: port,
      transfer: true,
      canReach: (to) => sameAddress(to, remote),
      acceptFrom: (from) => sameAddress(from, remote),
      closeEndpoint: options.closePort ?? true,
    });
    this.remoteAddress = remote;
  }
}
