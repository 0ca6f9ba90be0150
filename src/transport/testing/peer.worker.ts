/**
 * A peer for the transport browser tests, run as a module worker. The page
 * sends `{ port, local, remote }` (a MessagePort link) or
 * `{ channel, local }` (a BroadcastChannel name); the worker opens the
 * matching transport, posts `'ready'`, and then:
 * - sends every segment it receives back to its sender (same id, event
 *   count and bytes: the buffer is transferred back where the carrier can);
 * - answers the control message `stats` with its counters as JSON, and on
 *   `garbage` posts malformed values raw onto its port or channel, followed
 *   by the control message `after-garbage`.
 * Not part of the library.
 */
import { BroadcastChannelTransport } from '../broadcast-channel.js';
import type { TransportAddress } from '../address.js';
import { MessagePortTransport } from '../message-port.js';
import type { Transport } from '../transport.js';

interface PortInit {
  port: MessagePort;
  local: TransportAddress;
  remote: TransportAddress;
}
interface ChannelInit {
  channel: string;
  local: TransportAddress;
}

const text = new TextEncoder();
const untext = new TextDecoder();

const GARBAGE: unknown[] = [
  'not a message',
  { tidal: 'transport/1', kind: 'segment' },
  {
    tidal: 'transport/1',
    kind: 'segment',
    from: { shard: 3, replica: 'w' },
    to: { shard: 3, replica: '' },
    shard: 3,
    seq: 1n,
    eventCount: -1,
    bytes: new ArrayBuffer(4),
  },
];

self.addEventListener(
  'message',
  (event: MessageEvent<PortInit | ChannelInit>) => {
    const init = event.data;
    let raw: { postMessage(message: unknown): void };
    let transport: Transport;
    if ('port' in init) {
      raw = init.port;
      transport = new MessagePortTransport(init.port, { local: init.local, remote: init.remote });
    } else {
      const channel = new BroadcastChannel(init.channel);
      raw = channel;
      transport = new BroadcastChannelTransport(channel, { local: init.local });
    }
    void (async () => {
      for (let s = await transport.recvSegment(); s !== null; s = await transport.recvSegment()) {
        await transport.sendSegment(s.from, { id: s.id, bytes: s.bytes, eventCount: s.eventCount });
      }
    })();
    void (async () => {
      for (let c = await transport.recvControl(); c !== null; c = await transport.recvControl()) {
        const command = untext.decode(c.bytes);
        if (command === 'stats') {
          await transport.sendControl(c.from, text.encode(JSON.stringify(transport.counters)));
        } else if (command === 'garbage') {
          for (const value of GARBAGE) raw.postMessage(value);
          await transport.sendControl(c.from, text.encode('after-garbage'));
        }
      }
    })();
    self.postMessage('ready');
  },
  { once: true },
);
