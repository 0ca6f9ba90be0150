/**
 * `readObject`: an immutable object whose size the reader knows (a chunk
 * or snapshot, listed in a manifest with its size) read from the store,
 * a large one in byte ranges fetched several at once (docs/SYNC.md §7): one
 * GET stream is slower than the store's throughput with a few requests in
 * flight, and a snapshot is one object of many megabytes.
 *
 *     const sealed = await readObject(remote, pool, key, entry.size, what); // undefined: the store has no such object
 *
 * The parts land in one buffer of the listed size; each must come back
 * exactly as asked (the whole object's size as listed, the part's length),
 * or the object is refused: `ObjectMismatch` for another size, `Truncated`
 * for a short part. Given a `names` stream, the parts but the last are
 * hashed into it in order as they land (part n while part n + 1 is still on
 * its way), so that the name check (`SyncSpace.checkAndOpen`) has only the
 * last part left to hash (in the seal worker, where there is one); none,
 * for an object named by its header, nonce and tag (envelope.ts
 * `namedByTag`, what uploads seal now), whose name hashes 36 bytes. The caller then checks
 * the bytes against the object's name and opens them, as for an object read
 * whole.
 */
import { TidalError } from '../common/errors.js';
import { namedByTag } from './envelope.js';
import type { RequestPool } from './request-pool.js';
import type { ObjectNameStream } from './sync-key.js';
import type { CountingRemote } from './sync-stats.js';

/** Objects up to this size are read with one GET; larger ones in this many bytes or fewer per range, the ranges of equal size. */
export const RANGE_BYTES = 4 * 1024 * 1024;

/**
 * The object at `key`, listed at `size` bytes, read through `pool` (whole, or in ranges); `undefined` if the store has none.
 * The parts of a ranged read but the last are hashed into `names`, if given, in order (an object read whole is not: the caller hashes the rest).
 */
export async function readObject(
  remote: CountingRemote,
  pool: RequestPool,
  key: string,
  size: number,
  what: string,
  names?: ObjectNameStream,
): Promise<Uint8Array | undefined> {
  if (size <= RANGE_BYTES) {
    const found = await pool.run(() => remote.get(key, size));
    return found?.bytes;
  }
  const parts = Math.ceil(size / RANGE_BYTES);
  const partBytes = Math.ceil(size / parts);
  const bytes = new Uint8Array(size);
  const reads: Promise<boolean>[] = [];
  const landed = new Array<boolean>(parts).fill(false);
  let hashed = 0; // parts hashed into `names`, in order
  const hashLanded = () => {
    // An object named by its header, nonce and tag alone (the first part tells) needs none of its parts hashed.
    if (hashed === 0 && landed[0] && namedByTag(bytes.subarray(0, 8))) hashed = parts;
    for (; hashed < parts - 1 && landed[hashed]; hashed++) {
      const start = hashed * partBytes;
      names!.update(bytes.subarray(start, Math.min(start + partBytes, size))); // the bytes as they will be opened
    }
  };
  for (let offset = 0; offset < size; offset += partBytes) {
    const part = offset / partBytes;
    const length = Math.min(partBytes, size - offset);
    const read = pool
      .run(() => remote.get(key, size, { offset, length }))
      .then((found) => {
        if (!found) return false;
        if (found.size !== size) throw new TidalError('ObjectMismatch', `${what} is ${found.size} bytes in the store, listed at ${size}`);
        if (found.bytes.byteLength !== length) {
          throw new TidalError('Truncated', `${what}: ${found.bytes.byteLength} bytes from byte ${offset}, where ${length} were asked for`);
        }
        bytes.set(found.bytes, offset);
        landed[part] = true;
        if (names) hashLanded();
        return true;
      });
    read.catch(() => undefined); // awaited below, in order; a later part's failure must not go unhandled meanwhile
    reads.push(read);
  }
  let found = true;
  for (const read of reads) found = (await read) && found;
  return found ? bytes : undefined;
}
