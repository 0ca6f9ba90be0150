import { readdirSync, readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

const STARTER = 'demo/forage/starter';

/**
 * The production build of the demo (`npm run build:demo`, into dist-demo/, apart from the package's
 * dist/) carries Forage's starter bundle at the path it has in development: the worker fetches the
 * feeds by name, and a source's id is derived from its URL, so the files keep their names.
 */
function starterBundle(): Plugin {
  return {
    name: 'forage-starter-bundle',
    apply: 'build',
    generateBundle() {
      for (const file of readdirSync(STARTER).filter((f) => /\.(xml|json)$/.test(f))) {
        this.emitFile({ type: 'asset', fileName: `${STARTER}/${file}`, source: readFileSync(`${STARTER}/${file}`) });
      }
    },
  };
}

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
  plugins: [starterBundle()],
  build: {
    target: 'es2022',
    outDir: 'dist-demo',
    // Forage at the root and its database inspector, one click away.
    rollupOptions: { input: { forage: 'index.html', inspector: 'demo/inspector/index.html', demo: 'demo/index.html' } },
  },
});
