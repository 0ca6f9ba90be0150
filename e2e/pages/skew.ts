// The page of the version-skew test (e2e/skew.spec.ts), `?name=<db>`: it opens the database as
// `window.tidal` and records what the page is told. The spec serves it twice on one origin: from this
// build (the dev server), and from a build of the same sources with a newer protocol version.
import { openTidal, PROTOCOL_VERSION, type TidalDb } from '../../src/index.js';

/** What the page was told, in a form a test can read. */
interface SkewPage {
  /** The protocol this page's tidal speaks. */
  readonly protocol: number;
  /** The error `openTidal` rejected with, if it did. */
  openError?: { code: string; message: string };
  /** What `onSuperseded` reported, if it did. */
  superseded?: { code: string; message: string; details: unknown };
}

declare global {
  interface Window {
    tidal: TidalDb;
    skew: SkewPage;
  }
}

const params = new URLSearchParams(location.search);
window.skew = { protocol: PROTOCOL_VERSION };
openTidal({ name: params.get('name') ?? 'skew', shards: Number(params.get('shards') ?? 2) }).then(
  (db) => {
    db.onSuperseded((error) => (window.skew.superseded = { code: error.code, message: error.message, details: error.details }));
    window.tidal = db;
  },
  (error: { code?: string; message?: string }) => {
    window.skew.openError = { code: String(error.code), message: String(error.message) };
  },
);
