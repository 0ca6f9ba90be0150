/**
 * In-memory transports for tests and Node: an `InProcessNetwork` is a hub,
 * and every `connect(address)` returns an `InProcessTransport` on it. A
 * send to an address that is not connected (or has closed) rejects with
 * `UnknownPeer`.
 *
 * It behaves like a `MessagePort` where it matters: every message is
 * structured-cloned with its buffer in the transfer list, so the sender's
 * `ArrayBuffer` is detached after `sendSegment` (code that reuses a sent
 * buffer fails here as it would in a browser), and every delivery goes
 * through the same validation as a real port. Delivery is synchronous and
 * in order, so tests are deterministic.
 *
 * Faults are injected with `intercept`: it sees each message in flight and
 * returns what to deliver instead: `[]` drops it, `[m, withCopiedBytes(m)]`
 * duplicates it, `[withFlippedByte(m, 10)]` corrupts it, holding one and
 * returning `[next, held]` later reorders a pair, and any other value
 * reaches the receiver's validation as it is.
 *
 *     const net = new InProcessNetwork();
 *     const leader = net.connect(3);
 *     const follower = net.connect({ shard: 3, replica: 'f1' });
 *     net.intercept = (m) => (m.kind === 'segment' && m.seq === 2n ? [] : [m]); // lose segment 2
 */
import { TidalError } from '../common/errors.js';
import { formatAddress, toPeerAddress, type PeerAddress, type TransportAddress } from './address.js';
import { EndpointTransport, type TransportEndpoint } from './endpoint-transport.js';
import type { TransportOptions } from './transport.js';
import type { WireMessage } from './wire.js';

/** Sees every message in flight on an `InProcessNetwork` and returns the values to deliver to its addressee, in order. */
export type InProcessInterceptor = (message: WireMessage) => readonly unknown[];

/** A `Transport` connected to an `InProcessNetwork`. */
export class InProcessTransport extends EndpointTransport {}

/** The hub that connects `InProcessTransport`s in one JavaScript realm. */
export class InProcessNetwork {
  /** Fault injection for tests: when set, decides what each message in flight becomes. Default: none (deliver as sent). */
  intercept: InProcessInterceptor | undefined;
  private readonly peers = new Map<string, InProcessTransport>();

  /** An empty network; `intercept` (for tests) rewrites or drops messages in flight. */
  constructor(options: { intercept?: InProcessInterceptor } = {}) {
    this.intercept = options.intercept;
  }

  /** Connects a new transport at `local`; throws `InvalidArgument` if that address is already connected. */
  connect(local: TransportAddress, options: TransportOptions = {}): InProcessTransport {
    const address = toPeerAddress(local, 'local address');
    const key = formatAddress(address);
    if (this.peers.has(key)) {
      throw new TidalError('InvalidArgument', `address ${key} is already connected to this network; close that transport first`);
    }
    const endpoint: TransportEndpoint = {
      postMessage: (message, transfer) => {
        // Clone with transfer, exactly like a MessagePort: detaches the sender's buffer.
        this.route(structuredClone(message, { transfer: (transfer ?? []) as Transferable[] }) as WireMessage);
      },
      addEventListener: () => {},
      removeEventListener: () => {},
    };
    const transport = new InProcessTransport({
      ...options,
      local: address,
      endpoint,
      transfer: true,
      canReach: (to) => this.peers.has(formatAddress(to)),
      onClose: () => {
        if (this.peers.get(key) === transport) this.peers.delete(key);
      },
    });
    this.peers.set(key, transport);
    return transport;
  }

  /** True when a transport is connected at `address`. */
  has(address: TransportAddress): boolean {
    return this.peers.has(formatAddress(toPeerAddress(address)));
  }

  /** Addresses connected now, in connection order. */
  addresses(): PeerAddress[] {
    return [...this.peers.values()].map((t) => t.localAddress);
  }

  private route(message: WireMessage): void {
    const target = this.peers.get(formatAddress(message.to));
    if (!target) return; // closed between the reachability check and now: lost, like a real link
    const deliveries = this.intercept ? this.intercept(message) : [message];
    for (const delivery of deliveries) target.receive(delivery);
  }
}
