/**
 * `Remote`: the four operations sync needs of an object store, and nothing
 * more. Immutable objects are written once with `putIfAbsent`; the one
 * mutable object per device and shard (its manifest) is replaced only with
 * `putIfMatch`, a compare-and-swap on the ETag last read. Losing a race is
 * an expected outcome, returned as a result, never thrown.
 *
 *     const created = await remote.putIfAbsent('o/3fa9...', sealed);     // { ok: false } if the name is taken
 *     const current = await remote.get('m/7c1e.../0003');                // { bytes, etag } or undefined
 *     const swapped = await remote.putIfMatch('m/7c1e.../0003', next, current.etag);
 *
 * Implementations: `MemoryRemote` (tests, simulation; same conditional
 * semantics) and `S3Remote` (any S3 store with conditional writes: Ceph's
 * RADOS Gateway in tidal's tests). One contract test runs against both.
 * Everything a remote returns is untrusted: sizes are bounded by the
 * caller's `maxBytes`, and sync authenticates every byte it reads. A large
 * object is read in byte ranges, several at once (`get` with `range`).
 */
import { TidalError } from '../common/errors.js';

/** An object as read: its bytes and the ETag that a compare-and-swap must match. */
export interface RemoteObject {
  /** The object's content, untrusted until sync authenticates it. */
  readonly bytes: Uint8Array;
  /** Opaque version tag (S3's ETag without quotes). */
  readonly etag: string;
  /** The whole object's size in bytes (for a ranged read, more than `bytes` holds; untrusted). */
  readonly size: number;
}

/** `length` bytes of an object from byte `offset` (S3 `Range: bytes=offset-(offset+length-1)`). */
export interface ByteRange {
  /** First byte, from 0. */
  readonly offset: number;
  /** How many bytes, at least 1; a range past the object's end ends at the end. */
  readonly length: number;
}

/** Options of `Remote.get`. */
export interface GetOptions {
  /** The largest object accepted: a bigger one is refused (`PayloadTooLarge`), ranged read or not. */
  readonly maxBytes: number;
  /**
   * Only these bytes of the object: `bytes` is that range, cut at the
   * object's end, and `size` the whole object's size. A range that starts
   * at or past the end is refused (`Truncated`: the object is shorter than
   * the caller knows it to be).
   */
  readonly range?: ByteRange;
}

/** The outcome of a conditional write. `ok: false` means the condition failed (the name exists / the ETag moved on). */
export type PutOutcome =
  | {
      /** The object was written. */
      readonly ok: true;
      /** Its new ETag (unquoted), for the next compare-and-swap. */
      readonly etag: string;
    }
  | {
      /** The condition failed; nothing was written. */
      readonly ok: false;
    };

/** One key of a listing. */
export interface RemoteEntry {
  /** The object's key (name) in the bucket. */
  readonly key: string;
  /** The object's size in bytes, as the store reports it (untrusted). */
  readonly size: number;
  /** The object's current ETag (unquoted): a reader skips what has not changed since it last read it. */
  readonly etag: string;
}

/** Options of `Remote.list`. */
export interface ListOptions {
  /** Only keys after this one (exclusive), for paging. */
  readonly startAfter?: string;
  /** At most this many keys (the store may return fewer). Default 1000. */
  readonly limit?: number;
}

/** A page of a listing, in key order. */
export interface RemoteListing {
  /** The keys of this page, in key order. */
  readonly entries: readonly RemoteEntry[];
  /** More keys follow the last entry. */
  readonly truncated: boolean;
}

/** An S3-like object store with conditional writes. */
export interface Remote {
  /**
   * Creates `key` only if it does not exist (S3 `If-None-Match: *`). `body`: the same bytes as a `Blob`,
   * made off this thread (a seal worker's), which a store that sends a `Blob` (`S3Remote`) sends as it is
   * instead of copying `bytes` into one here; others may ignore it.
   */
  putIfAbsent(key: string, bytes: Uint8Array, body?: Blob): Promise<PutOutcome>;
  /** Replaces `key` only if its current ETag is `etag` (S3 `If-Match`). A missing key fails the condition. */
  putIfMatch(key: string, bytes: Uint8Array, etag: string): Promise<PutOutcome>;
  /** The object at `key` (or the range of it asked for), or `undefined`. Refuses (`PayloadTooLarge`) an object over `maxBytes`. */
  get(key: string, options: GetOptions): Promise<RemoteObject | undefined>;
  /** Keys starting with `prefix`, in key order, one page at a time. */
  list(prefix: string, options?: ListOptions): Promise<RemoteListing>;
  /** Deletes `key` (S3 `DELETE`); deleting a missing key is no error. Only the garbage collector deletes (docs/SYNC.md §10). */
  delete(key: string): Promise<void>;
}

/** Refuses (`InvalidArgument`) a range that is not whole, non-negative numbers with a length of at least 1. */
export function checkRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0 || !Number.isSafeInteger(range.length) || range.length < 1) {
    throw new TidalError('InvalidArgument', `a byte range needs an offset >= 0 and a length >= 1, got ${range.offset} and ${range.length}`);
  }
}

/** Default page size of `list`. */
export const DEFAULT_LIST_LIMIT = 1000;

/** Every key under `prefix`, following pages (at most `maxKeys`, a bound on what a store can make us hold). */
export async function listAll(remote: Remote, prefix: string, maxKeys = 100_000): Promise<RemoteEntry[]> {
  const all: RemoteEntry[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await remote.list(prefix, startAfter === undefined ? {} : { startAfter });
    for (const entry of page.entries) {
      if (!entry.key.startsWith(prefix) || (startAfter !== undefined && entry.key <= startAfter)) continue; // untrusted store
      all.push(entry);
    }
    if (!page.truncated || page.entries.length === 0 || all.length >= maxKeys) return all.slice(0, maxKeys);
    startAfter = page.entries[page.entries.length - 1]!.key;
  }
}
