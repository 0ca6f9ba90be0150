/**
 * A file already read whole into memory (`WalStorage.readWhole`), as a
 * read-only `WalFile`: what recovery verifies a sealed segment from. It
 * holds no handle, so closing it costs nothing; writing to it is a bug.
 */
import { TidalError } from '../common/errors.js';
import type { WalFile } from './storage.js';

/** A read-only `WalFile` over bytes in memory. */
export class WholeFile implements WalFile {
  readonly name: string;
  /** The file's content, as read. */
  readonly bytes: Uint8Array;

  constructor(name: string, bytes: Uint8Array) {
    this.name = name;
    this.bytes = bytes;
  }

  size(): number {
    return this.bytes.length;
  }

  read(target: Uint8Array, at: number): number {
    const part = this.bytes.subarray(at, at + target.length);
    target.set(part);
    return part.length;
  }

  write(): void {
    throw new TidalError('StorageError', `${this.name} was read whole for verification and cannot be written`);
  }

  truncate(): void {
    throw new TidalError('StorageError', `${this.name} was read whole for verification and cannot be truncated`);
  }

  flush(): void {}

  close(): void {}
}
