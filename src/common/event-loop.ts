/**
 * `yieldToEventLoop`: lets the tasks queued on this thread run (messages
 * from workers, network answers) before going on, without the 4 ms clamp
 * of nested timers. A long stretch of promise continuations never does:
 * they are microtasks, and a thread that only runs microtasks processes
 * no message and no response meanwhile.
 *
 *     for (const part of parts) { work(part); await yieldToEventLoop(); }
 */

/** Resolves once the tasks queued before it have had their turn. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(undefined);
  });
}
