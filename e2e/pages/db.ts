// A bare page with an open database, for e2e tests that need several
// databases or options the demo does not offer: `?name=<db>&shards=<n>&leaderTimeoutMs=<ms>`.
import { openTidal, type TidalDb } from '../../src/index.js';

declare global {
  interface Window {
    tidal: TidalDb;
    tidalReady: Promise<TidalDb>;
    tidalError?: string;
  }
}

const params = new URLSearchParams(location.search);
const leaderTimeoutMs = params.get('leaderTimeoutMs');
window.tidalReady = openTidal({
  name: params.get('name') ?? 'e2e',
  shards: Number(params.get('shards') ?? 4),
  debug: true,
  ...(leaderTimeoutMs === null ? {} : { leaderTimeoutMs: Number(leaderTimeoutMs) }),
}).then(
  (db) => (window.tidal = db),
  (error: unknown) => {
    window.tidalError = String(error);
    throw error;
  },
);
