/**
 * `WatchedStorage`: a `WalStorage` that passes every call to the storage it
 * wraps, and calls a test's hooks on its files' writes and flushes (a
 * `beforeWrite` that throws refuses the write, as a full store does).
 *
 *     let unflushed = 0;
 *     const storage = new WatchedStorage(new MemoryStorage(), {
 *       beforeWrite: (bytes) => void (unflushed += bytes.length),
 *       afterFlush: () => void (unflushed = 0),
 *     });
 */
import type { WalFile, WalStorage } from '../storage.js';

/** What a `WatchedStorage` calls. */
export interface StorageHooks {
  /** Before a file write of `bytes`; throwing refuses it (nothing is written). */
  beforeWrite?(bytes: Uint8Array): void;
  /** After a file flush. */
  afterFlush?(): void;
}

export class WatchedStorage implements WalStorage {
  readonly description: string;
  private readonly inner: WalStorage;
  private readonly hooks: StorageHooks;

  constructor(inner: WalStorage, hooks: StorageHooks) {
    this.inner = inner;
    this.hooks = hooks;
    this.description = `watched:${inner.description}`;
  }

  list(): Promise<string[]> {
    return this.inner.list();
  }

  async open(name: string, options?: { create?: boolean }): Promise<WalFile> {
    const file = await this.inner.open(name, options);
    const hooks = this.hooks;
    return {
      name: file.name,
      size: () => file.size(),
      read: (target, at) => file.read(target, at),
      write: (bytes, at) => {
        hooks.beforeWrite?.(bytes);
        file.write(bytes, at);
      },
      truncate: (size) => file.truncate(size),
      flush: () => {
        file.flush();
        hooks.afterFlush?.();
      },
      close: () => file.close(),
    };
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }
}
