import { defineConfig } from 'vite';

// The demo page (demo/index.html) and the test pages that e2e and bench
// drive. Workers are ES modules. No COOP/COEP headers: tidal needs no
// cross-origin isolation.
export default defineConfig({
  root: '.',
  worker: { format: 'es' },
  server: { port: 5173, strictPort: false },
  build: { target: 'es2022' },
});
