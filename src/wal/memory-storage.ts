/**
 * `MemoryStorage`: a `WalStorage` held in memory, for Node and for tests.
 * It behaves like OPFS in the ways the WAL relies on (one open handle per
 * file, positional reads that stop at the end, writes that grow the file),
 * and lets a test simulate a crash: `crash()` drops every byte written
 * since the last flush, like a power cut would.
 */
import { TidalError } from '../common/errors.js';
import type { WalFile, WalStorage } from './storage.js';

interface StoredFile {
  /** Bytes as the running process sees them. */
  bytes: Uint8Array;
  size: number;
  /** Size at the last flush: what survives a crash is `bytes[0..durableSize)`... */
  durableSize: number;
  /**
   * ...unless a write or truncate since that flush touched those bytes: then
   * this holds a copy of them as flushed. Appends (all the WAL does) never
   * need the copy, so a flush costs nothing.
   */
  durableCopy: Uint8Array | null;
  /** The one handle that may use the file now (handles are exclusive); null when closed. */
  owner: MemoryFile | null;
}

/** An in-memory folder of files. */
export class MemoryStorage implements WalStorage {
  readonly description = 'memory';
  private readonly files = new Map<string, StoredFile>();

  async list(): Promise<string[]> {
    return [...this.files.keys()];
  }

  async open(name: string, options: { create?: boolean } = {}): Promise<WalFile> {
    let file = this.files.get(name);
    if (!file) {
      if (!options.create) throw new TidalError('StorageError', `memory: no file named ${name}`);
      file = { bytes: new Uint8Array(0), size: 0, durableSize: 0, durableCopy: null, owner: null };
      this.files.set(name, file);
    }
    if (file.owner) throw new TidalError('StorageError', `memory: ${name} is already open (handles are exclusive, as in OPFS)`);
    const handle = new MemoryFile(name, file);
    file.owner = handle;
    return handle;
  }

  async rename(from: string, to: string): Promise<void> {
    const file = this.closedFile(from);
    if (this.files.has(to)) throw new TidalError('StorageError', `memory: cannot rename ${from} to ${to}: it exists`);
    this.files.delete(from);
    this.files.set(to, file);
  }

  async remove(name: string): Promise<void> {
    this.closedFile(name);
    this.files.delete(name);
  }

  /**
   * Simulates a crash: every file loses what was written since its last
   * flush, and every handle is invalidated.
   */
  crash(): void {
    for (const file of this.files.values()) {
      if (file.durableCopy) file.bytes = file.durableCopy;
      file.bytes.fill(0, file.durableSize);
      file.size = file.durableSize;
      file.durableCopy = null;
      file.owner = null;
    }
  }

  /** A copy of a file's current bytes (tests inspect and mutate files through this). */
  snapshot(name: string): Uint8Array {
    const file = this.files.get(name);
    if (!file) throw new TidalError('StorageError', `memory: no file named ${name}`);
    return file.bytes.slice(0, file.size);
  }

  /** Replaces a closed file's bytes, durably (tests use it to corrupt or plant files). */
  put(name: string, bytes: Uint8Array): void {
    const existing = this.files.get(name);
    if (existing?.owner) throw new TidalError('StorageError', `memory: ${name} is open`);
    this.files.set(name, { bytes: bytes.slice(), size: bytes.length, durableSize: bytes.length, durableCopy: null, owner: null });
  }

  private closedFile(name: string): StoredFile {
    const file = this.files.get(name);
    if (!file) throw new TidalError('StorageError', `memory: no file named ${name}`);
    if (file.owner) throw new TidalError('StorageError', `memory: ${name} is open; close it first`);
    return file;
  }
}

class MemoryFile implements WalFile {
  readonly name: string;
  private readonly file: StoredFile;
  private closed = false;

  constructor(name: string, file: StoredFile) {
    this.name = name;
    this.file = file;
  }

  private check(): StoredFile {
    if (this.closed || this.file.owner !== this) throw new TidalError('Closed', `memory: handle for ${this.name} is closed`);
    return this.file;
  }

  size(): number {
    return this.check().size;
  }

  read(target: Uint8Array, at: number): number {
    const file = this.check();
    const n = Math.max(0, Math.min(target.length, file.size - at));
    target.set(file.bytes.subarray(at, at + n));
    return n;
  }

  /** Keeps the flushed bytes before `at` is overwritten below the durable size. */
  private preserveDurable(file: StoredFile, at: number): void {
    if (at < file.durableSize && !file.durableCopy) file.durableCopy = file.bytes.slice(0, file.durableSize);
  }

  write(bytes: Uint8Array, at: number): void {
    const file = this.check();
    if (bytes.length > 0) this.preserveDurable(file, at);
    const end = at + bytes.length;
    if (end > file.bytes.length) {
      const grown = new Uint8Array(Math.max(end, file.bytes.length * 2, 4096));
      grown.set(file.bytes.subarray(0, file.size));
      file.bytes = grown;
    }
    file.bytes.set(bytes, at);
    file.size = Math.max(file.size, end);
  }

  truncate(size: number): void {
    const file = this.check();
    this.preserveDurable(file, size);
    if (size > file.bytes.length) {
      const grown = new Uint8Array(size);
      grown.set(file.bytes.subarray(0, file.size));
      file.bytes = grown;
    } else {
      file.bytes.fill(0, size, file.size);
    }
    file.size = size;
  }

  flush(): void {
    const file = this.check();
    file.durableSize = file.size;
    file.durableCopy = null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.file.owner === this) this.file.owner = null;
  }
}
