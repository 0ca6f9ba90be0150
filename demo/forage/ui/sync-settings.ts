/**
 * Where Forage keeps its sync settings on this device, and how.
 *
 * - **Not in tidal.** tidal's log replicates to every tab and uploads to the
 *   bucket: the bucket's own credentials and the key that encrypts it do not
 *   belong there. They are this browser profile's, in IndexedDB
 *   (`forage-sync`), read by every tab at open (each tab opens the database
 *   with the same `sync` options).
 * - **The passphrase is never stored.** It is turned into the user key
 *   (Argon2id, `deriveUserKey`) when the user saves the form, then dropped.
 * - **The secrets are sealed.** The user key and the S3 secret access key are
 *   encrypted with AES-256-GCM under a *device key*: a WebCrypto key made
 *   here with `extractable: false` and kept in IndexedDB as a `CryptoKey`
 *   (its bytes cannot be read out by script, only used). Nothing secret is
 *   readable in clear in the profile's storage, an export of it, or devtools.
 *   Script running in this origin can still unseal them (as the page does
 *   to open the database): that is what any web page that syncs unattended
 *   has to allow. `forgetSyncSettings` deletes the settings and the device key.
 *
 *     await saveSyncSettings(await sealSyncSettings({ endpoint, bucket, region, accessKeyId, secretAccessKey, passphrase, account }));
 *     const options = await loadSyncOptions(); // SyncOptions for openTidal, or undefined
 */
import { TidalError, deriveUserKey, parseUserKey, type SyncOptions } from '../../../src/index.js';

/** What the user types in the Sync panel. */
export interface SyncForm {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** A passphrase (with `account`), or a generated key `tidal-key-1:…`. */
  readonly passphrase: string;
  readonly account: string;
}

/** What is stored: the public fields in clear, the secrets sealed under the device key. */
export interface StoredSyncSettings {
  readonly version: 1;
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  /** The account name, if the key came from a passphrase (shown, never needed again). */
  readonly account: string;
  readonly iv: Uint8Array;
  /** AES-GCM of the JSON `{ secretAccessKey, key }` (key: the user key as `tidal-key-1:` text). */
  readonly sealed: Uint8Array;
}

const DATABASE = 'forage-sync';
const STORE = 'settings';
const SETTINGS = 'settings';
const DEVICE_KEY = 'device-key';
const KEY_PREFIX = 'tidal-key-1:';

/** Checks the form (the field named in the error) and seals it; the passphrase becomes the user key here. */
export async function sealSyncSettings(form: SyncForm): Promise<StoredSyncSettings> {
  const endpoint = form.endpoint.trim();
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || url.search !== '') {
    throw new TidalError('InvalidArgument', `endpoint: ${JSON.stringify(endpoint)} is not the origin of an S3 store (https://host[:port])`);
  }
  const bucket = form.bucket.trim();
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new TidalError('InvalidArgument', `bucket: ${JSON.stringify(bucket)} is not an S3 bucket name`);
  const accessKeyId = form.accessKeyId.trim();
  if (accessKeyId === '') throw new TidalError('InvalidArgument', 'access key id: must not be empty');
  if (form.secretAccessKey === '') throw new TidalError('InvalidArgument', 'secret access key: must not be empty');
  const secret = form.passphrase;
  const account = form.account.trim();
  let userKey: Uint8Array;
  if (secret.trim().startsWith(KEY_PREFIX)) {
    userKey = parseUserKey(secret.trim());
  } else {
    if (account === '')
      throw new TidalError('InvalidArgument', 'account: must not be empty with a passphrase (type the same one on every device)');
    userKey = await deriveUserKey(secret, account);
  }
  const plaintext = new TextEncoder().encode(
    JSON.stringify({ secretAccessKey: form.secretAccessKey, key: KEY_PREFIX + toBase64Url(userKey) }),
  );
  userKey.fill(0);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await deviceKey(), plaintext));
  plaintext.fill(0);
  return { version: 1, endpoint: url.origin, bucket, region: form.region.trim() || 'us-east-1', accessKeyId, account, iv, sealed };
}

export async function saveSyncSettings(settings: StoredSyncSettings): Promise<void> {
  await transaction('readwrite', (store) => store.put(settings, SETTINGS));
}

/** The stored settings (public fields only are read here), or `undefined`. */
export async function loadSyncSettings(): Promise<StoredSyncSettings | undefined> {
  const stored = await transaction('readonly', (store) => store.get(SETTINGS));
  return isStored(stored) ? stored : undefined;
}

/** `SyncOptions` for `openTidal`, unsealed from the stored settings; `undefined` when sync is not set up. */
export async function loadSyncOptions(): Promise<SyncOptions | undefined> {
  const stored = await loadSyncSettings();
  if (!stored) return undefined;
  const key = (await transaction('readonly', (s) => s.get(DEVICE_KEY))) as CryptoKey | undefined;
  if (!key) throw new TidalError('InvalidArgument', 'the sync settings are sealed under a device key that is gone: set sync up again');
  let secrets: { secretAccessKey: string; key: string };
  try {
    const plaintext = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: stored.iv as BufferSource }, key, stored.sealed as BufferSource);
    secrets = JSON.parse(new TextDecoder().decode(plaintext)) as { secretAccessKey: string; key: string };
  } catch {
    throw new TidalError('DecryptionFailed', 'the stored sync settings do not open with this device key: set sync up again');
  }
  return {
    endpoints: [stored.endpoint],
    bucket: stored.bucket,
    region: stored.region,
    accessKeyId: stored.accessKeyId,
    secretAccessKey: secrets.secretAccessKey,
    key: secrets.key,
  };
}

/** Deletes the settings and the device key: sync stops at the next open, and nothing of it stays here. */
export async function forgetSyncSettings(): Promise<void> {
  await transaction('readwrite', (store) => {
    store.delete(SETTINGS);
    return store.delete(DEVICE_KEY);
  });
}

function isStored(value: unknown): value is StoredSyncSettings {
  const v = value as Partial<StoredSyncSettings> | undefined;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.version === 1 &&
    typeof v.endpoint === 'string' &&
    typeof v.bucket === 'string' &&
    v.iv instanceof Uint8Array &&
    v.sealed instanceof Uint8Array
  );
}

/** The device key: made once, non-extractable, kept in IndexedDB. */
async function deviceKey(): Promise<CryptoKey> {
  const existing = (await transaction('readonly', (s) => s.get(DEVICE_KEY))) as CryptoKey | undefined;
  if (existing) return existing;
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  await transaction('readwrite', (s) => s.put(key, DEVICE_KEY));
  return key;
}

function transaction(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DATABASE, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(STORE, mode);
      const request = run(tx.objectStore(STORE));
      tx.oncomplete = () => {
        db.close();
        resolve(request.result);
      };
      tx.onerror = tx.onabort = () => {
        db.close();
        reject(tx.error ?? new Error('IndexedDB transaction aborted'));
      };
    };
  });
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}
