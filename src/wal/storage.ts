/**
 * The storage a WAL sits on: a flat folder of named files with synchronous
 * positional reads and writes, as OPFS's `FileSystemSyncAccessHandle` gives
 * them in a dedicated worker. Opening, listing and renaming are async (they
 * are in OPFS); reading, writing and flushing are sync, which is what lets
 * a group commit write a batch without yielding.
 *
 * Two backends implement it: `MemoryStorage` (Node, tests) and
 * `OpfsStorage` (browsers, dedicated workers only). Every WAL test runs on
 * both.
 */

/** One open file. */
export interface WalFile {
  /** The file's name in its folder. */
  readonly name: string;
  /** Current size in bytes. */
  size(): number;
  /** Reads into `target` from byte `at`; returns the bytes read (fewer at the end of the file). */
  read(target: Uint8Array, at: number): number;
  /** Writes all of `bytes` at byte `at`, growing the file as needed. */
  write(bytes: Uint8Array, at: number): void;
  /** Cuts or extends the file to `size` bytes. */
  truncate(size: number): void;
  /** Makes every write so far durable. */
  flush(): void;
  /** Releases the file (in OPFS, its sync access handle); the file stays. */
  close(): void;
}

/** A folder of files (one per database). */
export interface WalStorage {
  /** A short name for messages and reports ('memory', 'opfs:<path>'). */
  readonly description: string;
  /** Names of the files in the folder, in no particular order. */
  list(): Promise<string[]>;
  /** Opens a file; refuses with `StorageError` when it does not exist and `create` is not set. */
  open(name: string, options?: { create?: boolean }): Promise<WalFile>;
  /** Renames a closed file. */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a closed file. */
  remove(name: string): Promise<void>;
}
