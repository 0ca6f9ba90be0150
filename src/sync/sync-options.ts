/**
 * `openTidal({ sync })`: what an application passes to sync a database
 * across the user's devices (`SyncOptions`), and what the page resolves it
 * to for the shard workers (`SyncConfig`: the user key derived once, the
 * device id, everything structured-clonable).
 *
 *     const db = await openTidal({
 *       name: 'forage',
 *       sync: {
 *         endpoints: ['https://s3.example.org'], bucket: 'forage-sync', accessKeyId, secretAccessKey,
 *         key: 'tidal-key-1:…',                       // or { passphrase, account }
 *       },
 *     });
 *     await db.sync.now();
 *     (await db.sync.stats()).shards[0].bytesUp;
 */
import { TidalError } from '../common/errors.js';
import { integerOption } from '../common/options.js';
import { deriveUserKey, parseUserKey, toHex } from './sync-key.js';

/** How a database syncs through an S3 store (docs/SYNC.md). */
export interface SyncOptions {
  /** The store's gateway URLs (tried in turn when one fails). */
  readonly endpoints: readonly string[];
  /** The bucket holding the user's objects. */
  readonly bucket: string;
  /** The S3 access key id requests are signed with (SigV4). */
  readonly accessKeyId: string;
  /** The secret of that access key. */
  readonly secretAccessKey: string;
  /** SigV4 region. Default `'us-east-1'`. */
  readonly region?: string;
  /** The user key: the text `generateUserKey()` gave, or a passphrase with the account name (Argon2id). */
  readonly key:
    | string
    | {
        /** The user's passphrase; the key is derived from it with Argon2id. */
        readonly passphrase: string;
        /** The account name, the salt of that derivation: the same on every device of the user. */
        readonly account: string;
      };
  /** Between background rounds. Default 5,000 ms. */
  readonly intervalMs?: number;
  /** Per-request timeout. Default 10,000 ms. */
  readonly timeoutMs?: number;
  /** Start the background rounds at open. Default `true`; with `false` sync runs only on `db.sync.now()`. */
  readonly auto?: boolean;
  /** A snapshot of a shard is uploaded once its chunks since the last one weigh this much and more than it (docs/SYNC.md §9). Default 4 MiB. */
  readonly snapshotMinBytes?: number;
}

/** `SyncOptions` resolved for the shard workers. */
export interface SyncConfig {
  readonly endpoints: readonly string[];
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly userKey: Uint8Array;
  /** This device (browser profile) in the user's sync: 32 hex digits, kept in localStorage. */
  readonly device: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly auto: boolean;
  readonly snapshotMinBytes: number;
}

/** Checks `options`, derives the user key, and finds (or makes) this device's id. */
export async function resolveSyncOptions(options: SyncOptions, db: string): Promise<SyncConfig> {
  if (typeof options !== 'object' || options === null) throw new TidalError('InvalidArgument', 'sync must be an object of SyncOptions');
  const { endpoints, bucket, accessKeyId, secretAccessKey } = options;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string')) {
    throw new TidalError('InvalidArgument', 'sync.endpoints must be a non-empty array of URLs');
  }
  for (const [name, value] of Object.entries({ bucket, accessKeyId, secretAccessKey })) {
    if (typeof value !== 'string' || value.length === 0) throw new TidalError('InvalidArgument', `sync.${name} must be a non-empty string`);
  }
  const key = options.key;
  const userKey =
    typeof key === 'string'
      ? parseUserKey(key)
      : typeof key === 'object' && key !== null
        ? await deriveUserKey(key.passphrase, key.account)
        : (() => {
            throw new TidalError('InvalidArgument', 'sync.key must be a generated key (text) or { passphrase, account }');
          })();
  return {
    endpoints: [...endpoints],
    bucket,
    accessKeyId,
    secretAccessKey,
    region: options.region ?? 'us-east-1',
    userKey,
    device: deviceId(db),
    intervalMs: integerOption('sync.intervalMs', options.intervalMs, { min: 100, default: 5000 }),
    timeoutMs: integerOption('sync.timeoutMs', options.timeoutMs, { min: 100, default: 10_000 }),
    auto: options.auto ?? true,
    snapshotMinBytes: integerOption('sync.snapshotMinBytes', options.snapshotMinBytes, { min: 1024, default: 4 * 1024 * 1024 }),
  };
}

/** This browser profile's device id for database `db` (made once, kept in localStorage). */
function deviceId(db: string): string {
  const name = `tidal:${db}:sync-device`;
  const stored = globalThis.localStorage?.getItem(name);
  if (stored && /^[0-9a-f]{32}$/.test(stored)) return stored;
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const id = toHex(bytes);
  globalThis.localStorage?.setItem(name, id);
  return id;
}
