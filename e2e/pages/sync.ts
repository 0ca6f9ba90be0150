// A device that syncs through the test's Ceph cluster: `?name=<db>&shards=<n>`, with the sync options
// (endpoints, bucket, credentials, key) injected by the test as window.tidalSyncOptions before load.
import { openTidal, type SyncOptions, type TidalDb } from '../../src/index.js';

declare global {
  interface Window {
    tidal: TidalDb;
    tidalReady: Promise<TidalDb>;
    tidalError?: string;
    tidalSyncOptions: SyncOptions;
  }
}

const params = new URLSearchParams(location.search);
window.tidalReady = openTidal({
  name: params.get('name') ?? 'e2e-sync',
  shards: Number(params.get('shards') ?? 2),
  sync: window.tidalSyncOptions,
}).then(
  (db) => (window.tidal = db),
  (error: unknown) => {
    window.tidalError = String(error);
    throw error;
  },
);
