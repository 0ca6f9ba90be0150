/**
 * `OpfsStorage`: a `WalStorage` on the Origin Private File System, through
 * `FileSystemSyncAccessHandle` (dedicated workers only: the main thread has
 * no sync handles). A database is a folder, given as a path of names under
 * the origin's OPFS root.
 *
 *     // in a dedicated worker
 *     const storage = await OpfsStorage.open(['tidal', 'mydb']);
 *     const { wal } = await Wal.open(storage, { shard: 0 });
 *
 * Sync access handles are exclusive: while a WAL has a segment open, no
 * other worker or tab can open it. That is what leadership relies on.
 *
 * The file handles of the names it opened or listed are kept (not the sync
 * access handles: those are the caller's), so that opening, renaming or
 * removing a file it knows costs one round trip to the browser's storage,
 * not two: in a busy worker each round trip waits behind the task running.
 * Listing takes the handles with the names (the directory's entries), so
 * that recovery, which lists the folder and then opens every segment,
 * makes one round trip per file.
 */
import { TidalError } from '../common/errors.js';
import type { WalFile, WalStorage } from './storage.js';

/**
 * The synchronous OPFS access handle (TypeScript declares it only in the
 * WebWorker lib; this project compiles against the DOM lib).
 */
export interface SyncAccessHandle {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
/** An OPFS file handle with what this module uses of it (lib.dom lags on `createSyncAccessHandle` and `move`). */
export type OpfsFileHandle = FileSystemFileHandle & {
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
  move(newName: string): Promise<void>;
};
interface OpfsDirectoryHandle {
  readonly kind: 'directory';
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterableIterator<[string, OpfsFileHandle | OpfsDirectoryHandle]>;
}

function storageError(message: string, cause: unknown): TidalError {
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  // The origin's quota is used up (or the disk is full): a condition that passes, not a broken store.
  const full = cause instanceof Error && cause.name === 'QuotaExceededError';
  return new TidalError(full ? 'StorageFull' : 'StorageError', `${message} (${reason})`, { cause });
}

/** True when this context can use `OpfsStorage` (a dedicated worker with OPFS sync handles). */
export function hasOpfsSyncAccess(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof (globalThis as { FileSystemSyncAccessHandle?: unknown }).FileSystemSyncAccessHandle === 'function'
  );
}

/** A folder in OPFS holding one database's files. */
export class OpfsStorage implements WalStorage {
  readonly description: string;
  private readonly dir: OpfsDirectoryHandle;
  /** File handles of names opened here; a handle that fails is dropped and looked up again. */
  private readonly fileHandles = new Map<string, OpfsFileHandle>();

  private constructor(dir: OpfsDirectoryHandle, path: readonly string[]) {
    this.dir = dir;
    this.description = `opfs:/${path.join('/')}`;
  }

  /** Opens (creating as needed) the folder at `path` under the OPFS root. */
  static async open(path: readonly string[]): Promise<OpfsStorage> {
    if (!hasOpfsSyncAccess()) {
      throw new TidalError(
        'StorageError',
        'OPFS sync access handles are not available here: OpfsStorage runs in a dedicated Web Worker of a browser with OPFS',
      );
    }
    if (path.length === 0 || path.some((part) => !part || part.includes('/') || part === '.' || part === '..')) {
      throw new TidalError('InvalidArgument', `OPFS path ${JSON.stringify(path)} must be one or more plain folder names`);
    }
    try {
      let dir = (await navigator.storage.getDirectory()) as unknown as OpfsDirectoryHandle;
      for (const part of path) dir = await dir.getDirectoryHandle(part, { create: true });
      return new OpfsStorage(dir, path);
    } catch (cause) {
      throw storageError(`cannot open OPFS folder /${path.join('/')}`, cause);
    }
  }

  /** Deletes the folder at `path` and everything in it (no error if it is absent). */
  static async destroy(path: readonly string[]): Promise<void> {
    let dir = (await navigator.storage.getDirectory()) as unknown as OpfsDirectoryHandle;
    try {
      for (const part of path.slice(0, -1)) dir = await dir.getDirectoryHandle(part);
      await dir.removeEntry(path[path.length - 1]!, { recursive: true });
    } catch (cause) {
      if ((cause as { name?: string }).name !== 'NotFoundError') throw storageError(`cannot remove /${path.join('/')}`, cause);
    }
  }

  async list(): Promise<string[]> {
    const names: string[] = [];
    for await (const [name, handle] of this.dir.entries()) {
      names.push(name);
      if (handle.kind === 'file') this.fileHandles.set(name, handle as OpfsFileHandle);
    }
    return names;
  }

  async open(name: string, options: { create?: boolean } = {}): Promise<WalFile> {
    const known = this.fileHandles.get(name);
    if (known) {
      try {
        return new OpfsFile(name, await known.createSyncAccessHandle());
      } catch {
        // Removed or moved by another context meanwhile, or busy: look it up afresh, which says which.
        this.fileHandles.delete(name);
      }
    }
    let handle: SyncAccessHandle;
    try {
      const file = await this.dir.getFileHandle(name, { create: options.create === true });
      handle = await file.createSyncAccessHandle();
      this.fileHandles.set(name, file);
    } catch (cause) {
      throw storageError(`${this.description}: cannot open ${name}`, cause);
    }
    return new OpfsFile(name, handle);
  }

  async rename(from: string, to: string): Promise<void> {
    const known = this.fileHandles.get(from);
    this.fileHandles.delete(from);
    this.fileHandles.delete(to);
    try {
      if (known) {
        try {
          await known.move(to);
          this.fileHandles.set(to, known);
          return;
        } catch {
          // A stale handle: look the file up afresh.
        }
      }
      const file = await this.dir.getFileHandle(from);
      await file.move(to);
      this.fileHandles.set(to, file);
    } catch (cause) {
      throw storageError(`${this.description}: cannot rename ${from} to ${to}`, cause);
    }
  }

  async remove(name: string): Promise<void> {
    this.fileHandles.delete(name);
    try {
      await this.dir.removeEntry(name);
    } catch (cause) {
      throw storageError(`${this.description}: cannot remove ${name}`, cause);
    }
  }
}

class OpfsFile implements WalFile {
  readonly name: string;
  private readonly handle: SyncAccessHandle;
  private closed = false;

  constructor(name: string, handle: SyncAccessHandle) {
    this.name = name;
    this.handle = handle;
  }

  private live(): SyncAccessHandle {
    if (this.closed) throw new TidalError('Closed', `OPFS handle for ${this.name} is closed`);
    return this.handle;
  }

  size(): number {
    return this.live().getSize();
  }

  read(target: Uint8Array, at: number): number {
    return this.live().read(target, { at });
  }

  write(bytes: Uint8Array, at: number): void {
    let written: number;
    try {
      written = this.live().write(bytes, { at });
    } catch (cause) {
      throw storageError(`cannot write ${bytes.length} bytes to ${this.name}`, cause);
    }
    if (written !== bytes.length) {
      throw new TidalError('StorageFull', `OPFS wrote ${written} of ${bytes.length} bytes to ${this.name} (quota?)`);
    }
  }

  truncate(size: number): void {
    try {
      this.live().truncate(size);
    } catch (cause) {
      throw storageError(`cannot truncate ${this.name} to ${size} bytes`, cause);
    }
  }

  flush(): void {
    try {
      this.live().flush();
    } catch (cause) {
      throw storageError(`cannot flush ${this.name}`, cause);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}
