/**
 * `BroadcastChannelTransport`: replicas in different tabs (or any contexts
 * of one origin) over a `BroadcastChannel`. The channel is fan-out: every
 * message reaches every other instance of the channel name, so each message
 * names its sender and addressee, and a transport ignores (and counts as
 * `ignored`) whatever is addressed to another replica.
 *
 * **A `BroadcastChannel` clones**: it cannot transfer, so each segment is
 * copied once per receiving context, and the sender's buffer is not
 * detached. The `Transport` contract still applies: after `sendSegment` the
 * buffer belongs to the transport, do not reuse it.
 *
 * A channel cannot tell who is listening, so a send to an address nobody
 * holds is simply lost (the replication layer times out and retries),
 * unless `peers` is given: then only those addresses are reachable and
 * anything else rejects with `UnknownPeer`. The transport's own address is
 * never reachable (a channel does not deliver to itself). Use a channel
 * name dedicated to the transport, e.g. `tidal:<db>:replication`.
 *
 *     const tab = new BroadcastChannelTransport(new BroadcastChannel('tidal:notes:replication'), { local: { shard: 3, replica: tabId } });
 *     await tab.sendControl(3, ack); // to shard 3's leader, wherever it runs
 */
import { formatAddress, sameAddress, toPeerAddress, type TransportAddress } from './address.js';
import { EndpointTransport, type TransportEndpoint } from './endpoint-transport.js';
import type { TransportOptions } from './transport.js';

/** How a `BroadcastChannelTransport` is wired. */
export interface BroadcastChannelTransportOptions extends TransportOptions {
  /** This replica's address; it must be unique among the channel's users. */
  local: TransportAddress;
  /** When given, the only addresses sends may go to. Default: any address but our own. */
  peers?: readonly TransportAddress[];
  /** Whether `close()` also closes the channel. Default true. */
  closeChannel?: boolean;
}

/** A `Transport` over a `BroadcastChannel`, with addressee filtering. */
export class BroadcastChannelTransport extends EndpointTransport {
  /** Attaches to `channel`; the transport owns the channel from now on. */
  constructor(channel: BroadcastChannel | TransportEndpoint, options: BroadcastChannelTransportOptions) {
    const local = toPeerAddress(options.local, 'local address');
    const peers =
      options.peers === undefined ? undefined : new Set(options.peers.map((p, i) => formatAddress(toPeerAddress(p, `peers[${i}]`))));
    super({
      ...options,
      local,
      endpoint: channel,
      // BroadcastChannel.postMessage has no transfer list: it clones the message, buffer included.
      transfer: false,
      canReach: (to) => !sameAddress(to, local) && (peers === undefined || peers.has(formatAddress(to))),
      closeEndpoint: options.closeChannel ?? true,
    });
  }
}
