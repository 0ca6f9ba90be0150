/**
 * Worker side of the e2e harness page (`harness.html`). It proves, in real
 * Chromium, what tidal's shard workers depend on: a module worker that
 * imports comlink and hash-wasm, and an OPFS file driven through an
 * exclusive `FileSystemSyncAccessHandle`.
 *
 * The page reaches it with `Comlink.wrap<HarnessWorkerApi>(worker)`.
 */
import * as Comlink from 'comlink';
import type { OpfsFileHandle } from '../../src/wal/opfs-storage.js';
import { createBLAKE3 } from 'hash-wasm';

/** What one OPFS write-then-read round trip observed. */
export interface OpfsRoundTrip {
  /** Bytes `write()` reported as written. */
  written: number;
  /** Bytes `read()` reported as read back. */
  read: number;
  /** `getSize()` after the write and flush. */
  size: number;
  /** The bytes read back through the same handle (transferred to the page). */
  readBack: Uint8Array;
  /** BLAKE3 of `readBack`, computed in the worker, hex. */
  readBackBlake3Hex: string;
  /**
   * The `name` of the error a second `createSyncAccessHandle()` on the same
   * file raised while the first was open, or `'none'` if it succeeded.
   */
  secondHandleError: string;
}

async function blake3Hex(bytes: Uint8Array): Promise<string> {
  const hasher = await createBLAKE3();
  hasher.init();
  hasher.update(bytes);
  return hasher.digest('hex');
}

const api = {
  /** BLAKE3-256 of `bytes`, hex, computed with hash-wasm inside the worker. */
  blake3Hex,

  /**
   * Replaces the OPFS file `fileName` with `bytes` through a sync access
   * handle, flushes, checks that the handle is exclusive, reads the file
   * back through the same handle and closes it.
   */
  async opfsWriteRead(fileName: string, bytes: Uint8Array): Promise<OpfsRoundTrip> {
    const root = await navigator.storage.getDirectory();
    const file = (await root.getFileHandle(fileName, { create: true })) as OpfsFileHandle;
    const handle = await file.createSyncAccessHandle();
    try {
      handle.truncate(0);
      const written = handle.write(bytes, { at: 0 });
      handle.flush();
      let secondHandleError = 'none';
      try {
        const second = await file.createSyncAccessHandle();
        second.close();
      } catch (error) {
        secondHandleError = error instanceof Error ? error.name : String(error);
      }
      const size = handle.getSize();
      const readBack = new Uint8Array(size);
      const read = handle.read(readBack, { at: 0 });
      const readBackBlake3Hex = await blake3Hex(readBack);
      const result: OpfsRoundTrip = { written, read, size, readBack, readBackBlake3Hex, secondHandleError };
      return Comlink.transfer(result, [readBack.buffer]);
    } finally {
      handle.close();
    }
  },
};

/** The API the harness worker exposes over comlink. */
export type HarnessWorkerApi = typeof api;

Comlink.expose(api);
