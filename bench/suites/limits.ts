/**
 * Limits: what the browser's channels can do at best on this machine, with
 * nothing of tidal in the way. Other suites' numbers are read against them.
 *
 * - `limit.channel.message_channel.mb_per_s`: 4 MiB `ArrayBuffer`s
 *   transferred from the page to a module worker over a `MessageChannel`,
 *   each acknowledged by the worker (which transfers the buffer back with
 *   the ack, so the loop allocates nothing). Four buffers in flight; no
 *   hashing, the worker only checks the length. MB = 10^6 bytes delivered.
 * - `limit.channel.broadcast_channel.msgs_per_s`: small structured-clone
 *   messages (`{ seq, lsn }`) from one `BroadcastChannel` to another of the
 *   same name in this page, in bursts of 1000, each burst waited for.
 *
 * The worker is this same module: loaded in a worker scope it installs the
 * acknowledging end instead of exporting a suite, which keeps the suite in
 * one file.
 */
import { TidalError } from '../../src/common/errors.js';

const CHUNK_BYTES = 4 * 1024 * 1024;
const IN_FLIGHT = 4;
const BURST = 1000;
const WARMUP_MS = 500;
const MEASURE_MS = 2_500;
/** Longest wait for one ack or one burst before the suite gives up. */
const STALL_MS = 10_000;

type Report = (metric: string, value: number, unit: string) => void;

/** Page → worker over the MessageChannel. */
interface Chunk {
  seq: number;
  buffer: ArrayBuffer;
}
/** Worker → page: the chunk's buffer, handed back, and how much arrived. */
interface ChunkAck {
  seq: number;
  byteLength: number;
  buffer: ArrayBuffer;
}

const inWorkerScope =
  typeof document === 'undefined' && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'function';

if (inWorkerScope) {
  // The acknowledging end: the page sends one MessagePort, then chunks on it.
  self.addEventListener('message', (event: MessageEvent<unknown>) => {
    const port = event.data;
    if (!(port instanceof MessagePort)) return;
    port.onmessage = (message: MessageEvent<Chunk>) => {
      const { seq, buffer } = message.data;
      const ack: ChunkAck = { seq, byteLength: buffer.byteLength, buffer };
      port.postMessage(ack, [buffer]);
    };
  });
}

function withStallGuard<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TidalError('Timeout', `${what}: nothing arrived for ${STALL_MS} ms`)), STALL_MS);
  });
  return Promise.race([promise, stalled]).finally(() => clearTimeout(timer));
}

/**
 * Keeps `pool`'s buffers circulating page → worker → page for `durationMs`,
 * then waits for the last acks. Returns bytes the worker acknowledged and
 * the time from the first send to the last ack.
 */
function pumpChunks(port: MessagePort, pool: ArrayBuffer[], durationMs: number): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let bytes = 0;
    let lastAckAt = performance.now();
    const started = performance.now();
    const send = (buffer: ArrayBuffer) => {
      sent += 1;
      const chunk: Chunk = { seq: sent, buffer };
      port.postMessage(chunk, [buffer]);
    };
    const watchdog = setInterval(() => {
      if (performance.now() - lastAckAt > STALL_MS) {
        clearInterval(watchdog);
        reject(new TidalError('Timeout', `MessageChannel worker stopped acknowledging after ${acked} of ${sent} chunks`));
      }
    }, 1_000);
    port.onmessage = (event: MessageEvent<ChunkAck>) => {
      const ack = event.data;
      lastAckAt = performance.now();
      if (ack.byteLength !== CHUNK_BYTES || ack.buffer.byteLength !== CHUNK_BYTES) {
        clearInterval(watchdog);
        reject(new TidalError('Corrupt', `worker acknowledged ${ack.byteLength} bytes of a ${CHUNK_BYTES}-byte chunk`));
        return;
      }
      acked += 1;
      bytes += ack.byteLength;
      if (lastAckAt - started < durationMs) {
        send(ack.buffer);
        return;
      }
      pool.push(ack.buffer);
      if (acked === sent) {
        clearInterval(watchdog);
        resolve({ bytes, ms: lastAckAt - started });
      }
    };
    for (const buffer of pool.splice(0)) send(buffer);
  });
}

async function messageChannelMbPerS(): Promise<number> {
  const worker = new Worker(new URL('./limits.ts', import.meta.url), { type: 'module' });
  const channel = new MessageChannel();
  try {
    const failed = new Promise<never>((_, reject) => {
      worker.onerror = (event) => reject(new TidalError('Closed', `limits worker failed: ${event.message}`));
    });
    worker.postMessage(channel.port2, [channel.port2]);
    const pool = Array.from({ length: IN_FLIGHT }, () => new ArrayBuffer(CHUNK_BYTES));
    await Promise.race([pumpChunks(channel.port1, pool, WARMUP_MS), failed]);
    const { bytes, ms } = await Promise.race([pumpChunks(channel.port1, pool, MEASURE_MS), failed]);
    return bytes / 1e6 / (ms / 1000);
  } finally {
    channel.port1.close();
    worker.terminate();
  }
}

/** Sends bursts from `sender` until `durationMs` has passed; returns messages/s received. */
async function pumpBroadcasts(sender: BroadcastChannel, receiver: BroadcastChannel, durationMs: number): Promise<number> {
  let expectedSeq = 0;
  let burstDone: (() => void) | undefined;
  let burstFailed: ((error: Error) => void) | undefined;
  let burstEnd = 0;
  receiver.onmessage = (event: MessageEvent<{ seq: number; lsn: number }>) => {
    const { seq } = event.data;
    if (seq !== expectedSeq + 1) {
      burstFailed?.(new TidalError('Corrupt', `BroadcastChannel delivered seq ${seq} after ${expectedSeq}`));
      return;
    }
    expectedSeq = seq;
    if (seq === burstEnd) burstDone?.();
  };
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < durationMs) {
    const arrived = new Promise<void>((resolve, reject) => {
      burstDone = resolve;
      burstFailed = reject;
    });
    burstEnd = sent + BURST;
    for (let i = 0; i < BURST; i += 1) {
      sent += 1;
      sender.postMessage({ seq: sent, lsn: sent * 7 }); // structured clone: BroadcastChannel cannot transfer
    }
    await withStallGuard(`BroadcastChannel burst ending at seq ${burstEnd}`, arrived);
  }
  return sent / ((performance.now() - started) / 1000);
}

async function broadcastChannelMsgsPerS(): Promise<number> {
  const name = `tidal-bench-limits-${crypto.randomUUID()}`;
  const sender = new BroadcastChannel(name);
  const receiver = new BroadcastChannel(name);
  try {
    await pumpBroadcasts(sender, receiver, WARMUP_MS);
    return await pumpBroadcasts(sender, receiver, MEASURE_MS);
  } finally {
    sender.close();
    receiver.close();
  }
}

/** Measures the channel limits; see the module comment for what each means. */
export async function run(report: Report): Promise<void> {
  report('limit.channel.message_channel.mb_per_s', await messageChannelMbPerS(), 'MB/s');
  report('limit.channel.broadcast_channel.msgs_per_s', await broadcastChannelMsgsPerS(), 'msgs/s');
}
