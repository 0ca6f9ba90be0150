/**
 * Yielding to the event loop: a promise that resolves once the tasks
 * already queued (messages from other workers, storage replies) have had
 * their turn. A posted message rather than a timer, so that there is no
 * 4 ms clamp of nested timers and no clock to inject: it waits for
 * nothing but the queue.
 *
 *     await yieldToEventLoop(); // replies that arrived meanwhile have been handled
 */

let channel: MessageChannel | undefined;
/** Who waits for a turn, in order: each posted message wakes one. */
const waiting: (() => void)[] = [];

function openChannel(): MessageChannel {
  const opened = new MessageChannel();
  opened.port1.onmessage = () => waiting.shift()?.();
  // In Node a port with a listener keeps the process alive; a yield must not.
  (opened.port1 as { unref?: () => void }).unref?.();
  return opened;
}

/** Resolves after one turn of the event loop (the tasks queued before the call run first). */
export function yieldToEventLoop(): Promise<void> {
  channel ??= openChannel();
  const posted = channel;
  return new Promise((resolve) => {
    waiting.push(resolve);
    posted.port2.postMessage(null);
  });
}
