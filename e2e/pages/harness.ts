/**
 * The e2e harness page. It exposes `window.tidalHarness`, a handful of
 * probes that `e2e/harness.spec.ts` drives with `page.evaluate`, to prove
 * what the later e2e tests build on: a module worker importing comlink and
 * hash-wasm, OPFS sync access handles, BroadcastChannel and Web Locks
 * between tabs of one browser context.
 *
 * ```ts
 * await page.goto('/e2e/pages/harness.html');
 * await page.waitForFunction(() => 'tidalHarness' in window);
 * const hex = await page.evaluate(() => window.tidalHarness.workerBlake3Hex('abc'));
 * ```
 */
import * as Comlink from 'comlink';
import { createBLAKE3 } from 'hash-wasm';
import type { HarnessWorkerApi } from './harness.worker.js';

/** What a worker-side OPFS round trip observed, as plain data for the test. */
export interface OpfsRoundTripSummary {
  written: number;
  read: number;
  size: number;
  /** True when the bytes read back equal, byte for byte, the bytes sent. */
  sameBytes: boolean;
  readBackBlake3Hex: string;
  secondHandleError: string;
}

/** A BroadcastChannel message as the receiving page saw it. */
export interface ReceivedBroadcast {
  text: string;
  bytesHex: string;
}

/** The probes the harness page exposes on `window.tidalHarness`. */
export interface TidalHarness {
  /** BLAKE3 of the UTF-8 `text`, hashed by hash-wasm inside the module worker. */
  workerBlake3Hex(text: string): Promise<string>;
  /** Writes the base64 `bytes` to OPFS `fileName` from the worker and reads them back. */
  workerOpfsWriteRead(fileName: string, base64: string): Promise<OpfsRoundTripSummary>;
  /** Reads OPFS `fileName` from this page's main thread (async API): size and BLAKE3. */
  readOpfsFile(fileName: string): Promise<{ size: number; blake3Hex: string }>;
  /** Subscribes to BroadcastChannel `name`; messages queue until `nextMessage`. */
  listen(name: string): void;
  /** The next message received on a channel `listen` subscribed to. */
  nextMessage(name: string): Promise<ReceivedBroadcast>;
  /** Posts `{ text, bytes }` on BroadcastChannel `name`. */
  post(name: string, text: string, bytesHex: string): void;
  /** Takes Web Lock `name` and holds it until the page goes away. */
  holdLock(name: string): Promise<void>;
  /** True if Web Lock `name` was free (it is released again at once). */
  tryLock(name: string): Promise<boolean>;
  /** Queues a request for Web Lock `name`; `lockGranted` resolves when it is granted. */
  queueLock(name: string): Promise<void>;
  /** Resolves once the lock queued by `queueLock(name)` is held. */
  lockGranted(name: string): Promise<void>;
  /** Names of Web Locks this origin is waiting for, per `navigator.locks.query()`. */
  pendingLocks(): Promise<string[]>;
}

declare global {
  interface Window {
    /** Set once the harness page has loaded; wait for `'tidalHarness' in window`. */
    tidalHarness: TidalHarness;
  }
}

const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) throw new TypeError(`not hex: ${hex.slice(0, 16)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function fromBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}

async function blake3Hex(bytes: Uint8Array): Promise<string> {
  const hasher = await createBLAKE3();
  hasher.init();
  hasher.update(bytes);
  return hasher.digest('hex');
}

let workerApi: Comlink.Remote<HarnessWorkerApi> | undefined;
function harnessWorker(): Comlink.Remote<HarnessWorkerApi> {
  workerApi ??= Comlink.wrap<HarnessWorkerApi>(new Worker(new URL('./harness.worker.ts', import.meta.url), { type: 'module' }));
  return workerApi;
}

const channels = new Map<string, { channel: BroadcastChannel; queue: ReceivedBroadcast[]; waiters: ((m: ReceivedBroadcast) => void)[] }>();
const queuedLocks = new Map<string, Promise<void>>();

const harness: TidalHarness = {
  workerBlake3Hex: (text) => harnessWorker().blake3Hex(new TextEncoder().encode(text)),

  async workerOpfsWriteRead(fileName, base64) {
    const sent = fromBase64(base64);
    const expected = sent.slice(); // kept here: `sent` is transferred away
    const trip = await harnessWorker().opfsWriteRead(fileName, Comlink.transfer(sent, [sent.buffer]));
    const sameBytes = trip.readBack.length === expected.length && trip.readBack.every((b, i) => b === expected[i]);
    const { written, read, size, readBackBlake3Hex, secondHandleError } = trip;
    return { written, read, size, sameBytes, readBackBlake3Hex, secondHandleError };
  },

  async readOpfsFile(fileName) {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle(fileName)).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    return { size: file.size, blake3Hex: await blake3Hex(bytes) };
  },

  listen(name) {
    if (channels.has(name)) return;
    const entry = {
      channel: new BroadcastChannel(name),
      queue: [] as ReceivedBroadcast[],
      waiters: [] as ((m: ReceivedBroadcast) => void)[],
    };
    entry.channel.onmessage = (event: MessageEvent<unknown>) => {
      const data = event.data as { text?: unknown; bytes?: unknown } | null;
      const received: ReceivedBroadcast =
        data !== null && typeof data === 'object' && typeof data.text === 'string' && data.bytes instanceof Uint8Array
          ? { text: data.text, bytesHex: toHex(data.bytes) }
          : { text: `<malformed: ${String(data)}>`, bytesHex: '' };
      const waiter = entry.waiters.shift();
      if (waiter) waiter(received);
      else entry.queue.push(received);
    };
    channels.set(name, entry);
  },

  nextMessage(name) {
    const entry = channels.get(name);
    if (!entry) return Promise.reject(new Error(`not listening on ${name}; call listen() first`));
    const queued = entry.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => entry.waiters.push(resolve));
  },

  post(name, text, bytesHex) {
    const channel = new BroadcastChannel(name);
    channel.postMessage({ text, bytes: fromHex(bytesHex) }); // structured clone: BroadcastChannel cannot transfer
    channel.close();
  },

  holdLock(name) {
    return new Promise<void>((acquired) => {
      void navigator.locks.request(name, () => {
        acquired();
        return new Promise<never>(() => {}); // held until the page closes
      });
    });
  },

  async tryLock(name) {
    return navigator.locks.request(name, { ifAvailable: true }, (lock) => lock !== null);
  },

  async queueLock(name) {
    let granted!: () => void;
    queuedLocks.set(name, new Promise<void>((resolve) => (granted = resolve)));
    void navigator.locks.request(name, () => {
      granted();
      return new Promise<never>(() => {});
    });
  },

  lockGranted(name) {
    return queuedLocks.get(name) ?? Promise.reject(new Error(`no lock queued for ${name}`));
  },

  async pendingLocks() {
    const snapshot = await navigator.locks.query();
    return (snapshot.pending ?? []).map((lock) => lock.name ?? '');
  },
};

window.tidalHarness = harness;
const status = document.getElementById('status');
if (status) status.textContent = 'ready';
