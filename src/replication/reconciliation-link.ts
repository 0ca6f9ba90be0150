/**
 * Runs the CRDT `ReconciliationEngine` over a `Transport`: its messages go
 * on the transport's control lane to one peer, and what arrives on that
 * lane from that peer is handed to the engine (anything from anyone else is
 * counted and ignored). Give reconciliation a transport of its own (its own
 * `MessageChannel` or `BroadcastChannel` name): the control lane has one
 * receive queue, and this link reads all of it.
 *
 *     const channel = reconciliationChannel(transport, peer);
 *     const engine = await ReconciliationEngine.create({ state, channel });
 *     const report = await engine.reconcile();
 */
import type { ReconciliationChannel } from '../crdt/channel.js';
import { sameAddress, toPeerAddress, type TransportAddress } from '../transport/address.js';
import type { Transport } from '../transport/transport.js';

/** A `ReconciliationChannel` to `peer` over `transport`, and what it dropped. */
export interface TransportReconciliationChannel extends ReconciliationChannel {
  /** Messages from other senders, ignored. */
  readonly foreign: number;
  /** Stops reading the transport (the transport itself stays open). */
  close(): void;
}

/**
 * Carries a `ReconciliationEngine`'s messages to and from `peer` as control messages on `transport`; others' messages
 * are counted as `foreign`.
 */
export function reconciliationChannel(transport: Transport, peer: TransportAddress): TransportReconciliationChannel {
  const remote = toPeerAddress(peer, 'peer');
  let handler: ((message: Uint8Array) => void) | undefined;
  let foreign = 0;
  let open = true;
  void (async () => {
    while (open) {
      const message = await transport.recvControl();
      if (message === null) return;
      if (!sameAddress(message.from, remote)) {
        foreign++;
        continue;
      }
      handler?.(message.bytes);
    }
  })();
  return {
    get foreign() {
      return foreign;
    },
    send(message) {
      // Bounded by the transport's maxControlBytes; a refused or lost message is retried by the engine.
      transport.sendControl(remote, message).catch(() => undefined);
    },
    onMessage(next) {
      handler = next;
      return () => {
        if (handler === next) handler = undefined;
      };
    },
    close() {
      open = false;
    },
  };
}
