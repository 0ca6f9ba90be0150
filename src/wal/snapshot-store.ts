/**
 * `SnapshotStore`: a shard's snapshot files in its database's folder (the
 * same `WalStorage` as its segments; recovery leaves other names alone).
 *
 * Writing: the bytes go to `<name>.tmp`, are flushed, and only then is the
 * file renamed to its snapshot name, so a crash mid-snapshot leaves the
 * previous snapshot as it was (and a `.tmp` that the next prune removes).
 * The write goes in chunks, yielding to the event loop between them, so
 * that commits keep being acknowledged while a snapshot is made.
 *
 * The store keeps its files (names and sizes) in memory: the folder is
 * listed once, on first use, and again only after `loadNewest` (opening),
 * which must see every file there is: it lists the names once and opens
 * only the file it reads, so the sizes of the others are learned by the
 * next use, off the open's path. A snapshot then costs three storage
 * round trips (create the temporary file, rename it, remove the one it
 * replaces) instead of listing the folder and opening every snapshot file
 * to learn its size several times over: in a worker each round trip waits
 * for the task that resolves it, behind whatever the worker is doing, and
 * a shard writing at full speed outran snapshots that took twenty.
 *
 * Loading: newest first, every byte verified (`decodeSnapshot`). A
 * snapshot that fails verification, belongs to another shard or database,
 * or is newer than the log is refused with a code, quarantined (renamed
 * `<name>.quarantined-<n>`, kept) and reported; the next older one is
 * tried. Nothing of a refused snapshot is returned.
 *
 *     const store = new SnapshotStore(storage, b3, { shard: 3, databaseId });
 *     await store.write({ lsn, hlcHigh, body });
 *     const { snapshot, issues } = await store.loadNewest({ maxLsn: wal.lastLsn });
 */
import { yieldToEventLoop } from '../common/event-loop.js';
import { DIGEST_BYTES, type Blake3 } from '../common/blake3.js';
import { equalBytes } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { quarantineName } from './recovery.js';
import { newerFormat } from './segment-scan.js';
import { decodeSnapshot, encodeSnapshot, parseSnapshotFileName, snapshotFileName, type Snapshot } from './snapshot-file.js';
import type { WalStorage } from './storage.js';

/** Which shard and database a store's snapshots must belong to. */
export interface SnapshotStoreOptions {
  readonly shard: ShardId;
  /** BLAKE3-256 of the database's name (`databaseIdOf`). */
  readonly databaseId: Uint8Array;
  /** Bytes written between yields to the event loop. Default 4 MiB (a write of that size takes a few ms; encoding the state took longer). */
  readonly chunkBytes?: number;
  /** Yields to the event loop between chunks. Default: a macrotask through a MessageChannel (or setTimeout 0 without one). */
  readonly yieldToEvents?: () => Promise<void>;
}

/** A snapshot refused on load, and what became of it. */
export interface SnapshotIssue {
  /** `Corrupt` (failed verification: torn, flipped), `WrongShard`, `HeaderMismatch` (another database, or newer than the log). */
  readonly code: 'Corrupt' | 'WrongShard' | 'HeaderMismatch';
  readonly message: string;
  readonly file: string;
  readonly quarantinedAs: string;
}

/** A snapshot file present in the folder. */
export interface SnapshotFileInfo {
  readonly name: string;
  readonly lsn: number;
  readonly bytes: number;
}

/** What `loadNewest` found. */
export interface LoadedSnapshot {
  /** The newest snapshot that verified, if any. */
  readonly snapshot: (Snapshot & { readonly file: string; readonly bytes: number }) | undefined;
  /** Snapshots refused on the way, newest first. */
  readonly issues: readonly SnapshotIssue[];
}

const TEMP_SUFFIX = '.tmp';
const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

/** BLAKE3-256 of a database name's UTF-8 bytes: the identity a snapshot is checked against. */
export function databaseIdOf(b3: Blake3, database: string): Uint8Array {
  return b3.hash(new TextEncoder().encode(database));
}

/** One shard's snapshots on a storage folder. */
export class SnapshotStore {
  readonly shard: ShardId;
  private readonly storage: WalStorage;
  private readonly b3: Blake3;
  private readonly databaseId: Uint8Array;
  private readonly chunkBytes: number;
  private readonly yieldToEvents: () => Promise<void>;

  constructor(storage: WalStorage, b3: Blake3, options: SnapshotStoreOptions) {
    if (options.databaseId.length !== DIGEST_BYTES) throw new TidalError('InvalidArgument', `databaseId must be ${DIGEST_BYTES} bytes`);
    this.storage = storage;
    this.b3 = b3;
    this.shard = options.shard;
    this.databaseId = options.databaseId;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.yieldToEvents = options.yieldToEvents ?? yieldToEventLoop;
  }

  /** The store's operations, one after another (OPFS handles are exclusive: two may not open one file at once). */
  private chain: Promise<unknown> = Promise.resolve();
  /** This shard's snapshot files, newest first; `undefined` until the folder is first listed. */
  private files: SnapshotFileInfo[] | undefined;
  /** Temporary files of this shard left by a write that did not finish (a crash, a failure): the next prune removes them. */
  private readonly strays = new Set<string>();

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.chain.then(operation);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** This shard's snapshot files, newest first (as the store knows them: see the module comment). */
  list(): Promise<SnapshotFileInfo[]> {
    return this.exclusive(async () => [...(await this.known())]);
  }

  /** The files as tracked, listing the folder the first time. */
  private async known(): Promise<SnapshotFileInfo[]> {
    return (this.files ??= await this.listFiles());
  }

  /** Lists the folder: this shard's snapshot files (each opened once for its size), newest first; notes stray temporary files. */
  private async listFiles(): Promise<SnapshotFileInfo[]> {
    const found: SnapshotFileInfo[] = [];
    for (const name of await this.storage.list()) {
      if (name.endsWith(TEMP_SUFFIX)) {
        if (parseSnapshotFileName(name.slice(0, -TEMP_SUFFIX.length))?.shard === this.shard) this.strays.add(name);
        continue;
      }
      const parsed = parseSnapshotFileName(name);
      if (!parsed || parsed.shard !== this.shard) continue;
      const file = await this.storage.open(name);
      try {
        found.push({ name, lsn: parsed.lsn, bytes: file.size() });
      } finally {
        file.close();
      }
    }
    this.files = found.sort((a, b) => b.lsn - a.lsn);
    return this.files;
  }

  /**
   * Writes a snapshot of this shard at `lsn`: to a temporary name, flushed,
   * then renamed. Resolves with its file's name and size once it is in place.
   */
  write(fields: { lsn: number; hlcHigh: bigint; body: Uint8Array }): Promise<SnapshotFileInfo> {
    return this.exclusive(() => this.writeFile(fields));
  }

  private async writeFile(fields: { lsn: number; hlcHigh: bigint; body: Uint8Array }): Promise<SnapshotFileInfo> {
    const files = await this.known();
    const name = snapshotFileName(this.shard, fields.lsn);
    const existing = files.find((f) => f.name === name);
    if (existing) return existing; // the same state, already written
    const bytes = encodeSnapshot(this.b3, { shard: this.shard, databaseId: this.databaseId, ...fields });
    const temp = name + TEMP_SUFFIX;
    const file = await this.storage.open(temp, { create: true });
    this.strays.add(temp); // until it is renamed: if the write fails, the next prune removes what it left
    try {
      file.truncate(0);
      for (let at = 0; at < bytes.length; at += this.chunkBytes) {
        file.write(bytes.subarray(at, Math.min(bytes.length, at + this.chunkBytes)), at);
        if (at + this.chunkBytes < bytes.length) await this.yieldToEvents();
      }
      file.flush();
    } finally {
      file.close();
    }
    await this.storage.rename(temp, name);
    this.strays.delete(temp);
    const written = { name, lsn: fields.lsn, bytes: bytes.length };
    files.push(written);
    files.sort((a, b) => b.lsn - a.lsn);
    return written;
  }

  /**
   * The newest snapshot that verifies and is at most `maxLsn` (the log's
   * last LSN: a snapshot newer than the log is refused). Refused snapshots
   * are quarantined and reported.
   */
  loadNewest(options: { maxLsn: number }): Promise<LoadedSnapshot> {
    return this.exclusive(() => this.loadNewestFile(options));
  }

  /** The whole of the file `name`, read at once and closed. */
  private async readWhole(name: string): Promise<Uint8Array> {
    const file = await this.storage.open(name);
    const bytes = new Uint8Array(file.size());
    try {
      file.read(bytes, 0);
    } finally {
      file.close();
    }
    return bytes;
  }

  private async loadNewestFile(options: { maxLsn: number }): Promise<LoadedSnapshot> {
    const issues: SnapshotIssue[] = [];
    // Listed afresh: opening must see every file there is, whatever wrote it. One listing, and only the
    // file that is read is opened (its size is what is read): on OPFS every open is a round trip to the
    // browser, and an open waits for them (listing the kept files with their sizes waits for the store's
    // next `list`, off the open's path).
    const names = await this.storage.list();
    const taken = new Set(names);
    this.files = undefined;
    const candidates: { name: string; lsn: number }[] = [];
    for (const name of names) {
      const parsed = parseSnapshotFileName(name);
      if (parsed?.shard === this.shard) candidates.push({ name, lsn: parsed.lsn });
    }
    candidates.sort((a, b) => b.lsn - a.lsn);
    for (const { name, lsn } of candidates) {
      const bytes = await this.readWhole(name);
      const refusal = this.check(bytes, { name, lsn, bytes: bytes.length }, options.maxLsn);
      if ('snapshot' in refusal) return { snapshot: { ...refusal.snapshot, file: name, bytes: bytes.length }, issues };
      const quarantinedAs = quarantineName(name, taken);
      await this.storage.rename(name, quarantinedAs);
      taken.add(quarantinedAs);
      issues.push({ ...refusal, file: name, quarantinedAs });
    }
    return { snapshot: undefined, issues };
  }

  private check(
    bytes: Uint8Array,
    info: SnapshotFileInfo,
    maxLsn: number,
  ): { snapshot: Snapshot } | Omit<SnapshotIssue, 'file' | 'quarantinedAs'> {
    let snapshot: Snapshot;
    try {
      snapshot = decodeSnapshot(this.b3, bytes);
    } catch (error) {
      // A newer tidal's snapshot (it verifies by the digest every version ends with): not quarantined.
      if (isTidalError(error, 'UnsupportedVersion') && endsWithItsDigest(this.b3, bytes)) throw newerFormat(error);
      if (!isTidalError(error)) throw error;
      return { code: 'Corrupt', message: `${info.name}: ${error.message} (${error.code})` };
    }
    if (snapshot.shard !== this.shard) {
      return { code: 'WrongShard', message: `${info.name}: the file is named for shard ${this.shard} but holds shard ${snapshot.shard}` };
    }
    if (!equalBytes(snapshot.databaseId, this.databaseId)) {
      return { code: 'HeaderMismatch', message: `${info.name}: the snapshot is of another database` };
    }
    if (snapshot.lsn !== info.lsn) {
      return { code: 'HeaderMismatch', message: `${info.name}: the file is named for LSN ${info.lsn} but holds LSN ${snapshot.lsn}` };
    }
    if (snapshot.lsn > maxLsn) {
      return {
        code: 'HeaderMismatch',
        message: `${info.name}: the snapshot is at LSN ${snapshot.lsn}, newer than the log, which ends at ${maxLsn}; it is not applied`,
      };
    }
    return { snapshot };
  }

  /**
   * The newest snapshot file of this shard that verifies, as stored (for
   * shipping it to a follower, which verifies it again on arrival); nothing
   * is quarantined here (opening does that).
   */
  readNewest(): Promise<{ lsn: number; file: Uint8Array } | undefined> {
    return this.exclusive(async () => {
      for (const info of await this.known()) {
        const bytes = await this.readWhole(info.name);
        if ('snapshot' in this.check(bytes, info, Number.MAX_SAFE_INTEGER)) return { lsn: info.lsn, file: bytes };
      }
      return undefined;
    });
  }

  /**
   * Removes every snapshot of this shard but the newest `keep`, and any
   * `.tmp` left by a crash mid-write. Returns the names removed.
   */
  prune(keep: number): Promise<string[]> {
    return this.exclusive(() => this.pruneFiles(keep));
  }

  /**
   * Removes every snapshot of this shard but the newest whose LSN is below
   * `lsn` (a log compacted to `lsn + 1` no longer reaches back to them, so
   * they could rebuild nothing). Returns the names removed.
   */
  pruneBefore(lsn: number): Promise<string[]> {
    return this.exclusive(async () => {
      const files = await this.known();
      const removed: string[] = [];
      while (files.length > 1 && files[files.length - 1]!.lsn < lsn) {
        const oldest = files[files.length - 1]!;
        await this.storage.remove(oldest.name);
        files.pop();
        removed.push(oldest.name);
      }
      return removed;
    });
  }

  private async pruneFiles(keep: number): Promise<string[]> {
    const files = await this.known();
    const removed: string[] = [];
    while (files.length > keep) {
      const oldest = files[files.length - 1]!;
      await this.storage.remove(oldest.name);
      files.pop();
      removed.push(oldest.name);
    }
    for (const name of [...this.strays]) {
      try {
        await this.storage.remove(name);
        removed.push(name);
      } catch (error) {
        // A write that failed before creating its temporary file left nothing; anything else is a real failure.
        if ((await this.storage.list()).includes(name)) throw error;
      }
      this.strays.delete(name);
    }
    return removed;
  }
}

/** The file ends with the BLAKE3 of every byte before it, as every snapshot version does. */
function endsWithItsDigest(b3: Blake3, bytes: Uint8Array): boolean {
  return (
    bytes.length >= DIGEST_BYTES &&
    equalBytes(b3.hash(bytes.subarray(0, bytes.length - DIGEST_BYTES)), bytes.subarray(bytes.length - DIGEST_BYTES))
  );
}
