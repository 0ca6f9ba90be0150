/**
 * What the reconciliation engine needs from the world: a point-to-point
 * byte channel to one peer. A tiny interface, so that a `Transport` control
 * lane, a `MessagePort` or an in-memory fake plug in alike (its timers come
 * from the one injected `Clock`, so tests drive time by hand).
 *
 *     const [a, b] = createInMemoryChannelPair();
 *     const left = await ReconciliationEngine.create({ state: stateA, channel: a });
 *     const right = await ReconciliationEngine.create({ state: stateB, channel: b });
 *     await left.reconcile();
 *
 * Delivery may be lossy, duplicated and reordered; the engine copes.
 * Messages are validated on receipt, but a digest flipped in flight looks
 * like any other digest, so a carrier that can corrupt bytes should verify
 * them (the project's transports do).
 */

/** A best-effort, point-to-point message channel to one peer. */
export interface ReconciliationChannel {
  /**
   * Sends one message. The engine hands the bytes over (it never touches
   * them again), so a carrier may transfer their buffer. Must not throw
   * for an ordinary loss; a message that cannot be sent is simply lost.
   */
  send(message: Uint8Array): void;
  /**
   * Registers the handler for incoming messages and returns a function
   * that unregisters it. The handler only reads the bytes during the call
   * and copies what it keeps.
   */
  onMessage(handler: (message: Uint8Array) => void): () => void;
}

/**
 * Two connected in-memory channels: what one sends, the other receives, in
 * order, on a later microtask. The bytes are handed over, not copied.
 * Messages sent while the other side has no handler are dropped.
 */
export function createInMemoryChannelPair(): [ReconciliationChannel, ReconciliationChannel] {
  const handlers: [((m: Uint8Array) => void) | undefined, ((m: Uint8Array) => void) | undefined] = [undefined, undefined];
  const end = (self: 0 | 1): ReconciliationChannel => ({
    send(message) {
      const peer = self === 0 ? 1 : 0;
      queueMicrotask(() => handlers[peer]?.(message));
    },
    onMessage(handler) {
      handlers[self] = handler;
      return () => {
        if (handlers[self] === handler) handlers[self] = undefined;
      };
    },
  });
  return [end(0), end(1)];
}
