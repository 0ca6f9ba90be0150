/** Helpers for sync tests: devices (a log and a `ShardSync` each) of one user, on one store. */
import { toHex, SyncKeys } from '../sync-key.js';
import type { Remote } from '../remote.js';
import { ShardSync, type ShardSyncOptions } from '../shard-sync.js';
import { MemorySyncLog } from './memory-sync-log.js';

export function randomDevice(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return toHex(bytes);
}

export async function userKeys(): Promise<SyncKeys> {
  const key = new Uint8Array(32);
  crypto.getRandomValues(key);
  return SyncKeys.from(key);
}

/** A device of one shard: its log and its sync. `reopen` models a crash and restart (same device, a new epoch). */
export class TestDevice {
  readonly id = randomDevice();
  log: MemorySyncLog;
  sync: ShardSync;
  epoch = 1;
  readonly remote: Remote;
  readonly keys: SyncKeys;
  readonly options: Partial<ShardSyncOptions>;

  constructor(remote: Remote, keys: SyncKeys, options: Partial<ShardSyncOptions> = {}) {
    this.remote = remote;
    this.keys = keys;
    this.options = options;
    this.log = new MemorySyncLog(`${this.id.slice(0, 8)}.0`);
    this.sync = this.makeSync();
  }

  private makeSync(): ShardSync {
    return new ShardSync({
      remote: this.remote,
      keys: this.keys,
      database: 'test',
      device: this.id,
      shard: 0,
      shards: 1,
      epoch: this.epoch,
      log: this.log,
      ...this.options,
    });
  }

  reopen(): void {
    this.log = this.log.reopen();
    this.epoch++;
    this.sync = this.makeSync();
  }
}
