/**
 * `FaultyStorage`: fault injection at the storage interface. It wraps any
 * `WalStorage` (memory in Node, OPFS in Chromium) and, while a fault is
 * set, makes writes fail the way a real store does:
 *
 * - `'full'`: every write, truncate that grows and flush throws
 *   `StorageFull`, as OPFS does when the origin's quota is used up;
 * - `'lost-handle'` (a one-off, not a state): every handle open now is
 *   closed underneath and stops working (its next operation throws
 *   `StorageError`), as when the browser revokes it; handles opened
 *   afterwards work.
 *
 *     const storage = new FaultyStorage(new MemoryStorage());
 *     storage.fault = 'full';   // appends now reject with StorageFull
 *     storage.fault = undefined; // room again: appends go on
 */
import { TidalError } from '../../common/errors.js';
import type { WalFile, WalStorage } from '../storage.js';

export type StorageFault = 'full' | 'lost-handle';

/** A `WalStorage` that fails on demand. */
export class FaultyStorage implements WalStorage {
  readonly description: string;
  /** The fault in force; `undefined` for none. Setting `'lost-handle'` invalidates every open handle at once. */
  get fault(): StorageFault | undefined {
    return this.current;
  }
  set fault(fault: StorageFault | undefined) {
    this.current = fault;
    if (fault === 'lost-handle') {
      for (const file of this.handles) file.lose();
      this.handles.clear();
      this.current = undefined;
    }
  }
  /** Operations refused so far. */
  refusals = 0;
  private current: StorageFault | undefined;
  private readonly inner: WalStorage;
  private readonly handles = new Set<FaultyFile>();

  constructor(inner: WalStorage) {
    this.inner = inner;
    this.description = `faulty:${inner.description}`;
  }

  list(): Promise<string[]> {
    return this.inner.list();
  }

  async open(name: string, options?: { create?: boolean }): Promise<WalFile> {
    if (this.current === 'full' && options?.create === true && !(await this.inner.list()).includes(name)) {
      this.refusals++;
      throw new TidalError('StorageFull', `${this.description}: cannot create ${name}: storage is full (injected)`);
    }
    const file = new FaultyFile(this, await this.inner.open(name, options));
    this.handles.add(file);
    return file;
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }

  /** @internal */
  refuse(what: string): never {
    this.refusals++;
    throw new TidalError('StorageFull', `${this.description}: ${what}: storage is full (injected)`);
  }

  /** @internal */
  closed(file: FaultyFile): void {
    this.handles.delete(file);
  }
}

class FaultyFile implements WalFile {
  private lost = false;
  private readonly owner: FaultyStorage;
  private readonly inner: WalFile;

  constructor(owner: FaultyStorage, inner: WalFile) {
    this.owner = owner;
    this.inner = inner;
  }

  get name(): string {
    return this.inner.name;
  }

  /** The browser took the handle away: it is closed underneath, and every use of it fails. */
  lose(): void {
    this.lost = true;
    this.inner.close();
  }

  private live(): WalFile {
    if (this.lost) throw new TidalError('StorageError', `${this.inner.name}: the handle was lost (injected)`);
    return this.inner;
  }

  size(): number {
    return this.live().size();
  }

  read(target: Uint8Array, at: number): number {
    return this.live().read(target, at);
  }

  write(bytes: Uint8Array, at: number): void {
    const file = this.live();
    if (this.owner.fault === 'full' && bytes.length > 0) {
      // A real store may take part of a write before it gives up.
      file.write(bytes.subarray(0, bytes.length >> 1), at);
      this.owner.refuse(`cannot write ${bytes.length} bytes to ${this.name}`);
    }
    file.write(bytes, at);
  }

  truncate(size: number): void {
    const file = this.live();
    if (this.owner.fault === 'full' && size > file.size()) this.owner.refuse(`cannot grow ${this.name}`);
    file.truncate(size);
  }

  flush(): void {
    this.live().flush();
  }

  close(): void {
    this.owner.closed(this);
    if (!this.lost) this.inner.close();
  }
}
