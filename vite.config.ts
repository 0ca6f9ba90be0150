import { defineConfig } from 'vite';

// The demo page (demo/index.html) and the test pages that e2e and bench
// drive. Workers are ES modules. No COOP/COEP headers: tidal needs no
// cross-origin isolation.
export default defineConfig({
  root: '.',
  worker: { format: 'es' },
  // Every dependency that browser code imports, optimised when the server
  // starts. Vite's scan follows the HTML pages' imports but not the workers',
  // so without this list it discovers comlink, hash-wasm or feedsmith the
  // first time a worker loads them, re-optimises, and may reload every open
  // page mid-test (a fresh clone's first e2e run lost a Forage form that way).
  optimizeDeps: {
    include: [
      'comlink',
      'hash-wasm',
      'aws4fetch',
      'feedsmith',
      'fast-check',
      'yjs',
      'tinybase',
      'tinybase/synchronizers/synchronizer-broadcast-channel',
    ],
  },
  server: { port: 5173, strictPort: false },
  build: { target: 'es2022' },
});
