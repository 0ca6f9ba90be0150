/**
 * `WatchedStorage`: a `WalStorage` that passes every call to the storage it
 * wraps, and calls a test's hooks on its files' writes and flushes (a
 * `beforeWrite` that throws refuses the write, as a full store does) and
 * on removals. It also records what is asked of it (`calls`: `open <name>`
 * when an open is called, `read <name>` per read), which files it holds
 * open (`openNow`, `mostOpen`), and can hold back the answer of an open
 * (`hold`).
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
  /** After a file was removed. */
  afterRemove?(name: string): void;
}

export class WatchedStorage implements WalStorage {
  readonly description: string;
  /** What was asked of the storage, in order: `open <name>` when an open is called, `read <name>` per read. */
  readonly calls: string[] = [];
  /** Names of files open now (opened, not yet closed). */
  readonly openNow = new Set<string>();
  /** Most files open at once so far. */
  mostOpen = 0;
  private held: { name: string; release: Promise<void>; arrive: () => void } | undefined;
  private readonly inner: WalStorage;
  private readonly hooks: StorageHooks;

  constructor(inner: WalStorage, hooks: StorageHooks = {}) {
    this.inner = inner;
    this.hooks = hooks;
    this.description = `watched:${inner.description}`;
  }

  /**
   * The next open of `name` answers only once `letGo()` is called, the file
   * already open underneath (as OPFS holds a sync access handle before its
   * promise settles); `reached` settles when that open has the file.
   */
  hold(name: string): { letGo: () => void; reached: Promise<void> } {
    let letGo!: () => void;
    let arrive!: () => void;
    const release = new Promise<void>((resolve) => (letGo = resolve));
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    this.held = { name, release, arrive };
    return { letGo, reached };
  }

  list(): Promise<string[]> {
    return this.inner.list();
  }

  async open(name: string, options?: { create?: boolean }): Promise<WalFile> {
    this.calls.push(`open ${name}`);
    const file = await this.inner.open(name, options);
    this.openNow.add(name);
    this.mostOpen = Math.max(this.mostOpen, this.openNow.size);
    const held = this.held;
    if (held?.name === name) {
      this.held = undefined;
      held.arrive();
      await held.release;
    }
    const hooks = this.hooks;
    let closed = false;
    return {
      name: file.name,
      size: () => file.size(),
      read: (target, at) => (this.calls.push(`read ${name}`), file.read(target, at)),
      write: (bytes, at) => {
        hooks.beforeWrite?.(bytes);
        file.write(bytes, at);
      },
      truncate: (size) => file.truncate(size),
      flush: () => {
        file.flush();
        hooks.afterFlush?.();
      },
      close: () => {
        if (!closed) this.openNow.delete(name);
        closed = true;
        file.close();
      },
    };
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  async remove(name: string): Promise<void> {
    await this.inner.remove(name);
    this.hooks.afterRemove?.(name);
  }
}
