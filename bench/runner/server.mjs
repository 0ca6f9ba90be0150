// The Vite dev server the bench page and its tabs are loaded from: 127.0.0.1
// only, no HMR and no file watching (others editing the tree during a long
// run must not reload a page under a suite).

import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'vite';

/** Asks the OS for a port nobody listens on (Vite then binds it strictly). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the server on `port`; resolves to it, listening. */
export async function startServer(root, port) {
  const server = await createServer({
    root,
    configFile: join(root, 'vite.config.ts'),
    // Its own optimizer cache, so a bench run never races an e2e or dev
    // server re-optimizing node_modules/.vite/deps.
    cacheDir: join(root, 'node_modules', '.vite', 'bench'),
    // Every dependency a suite or tab imports, optimized up front: one found
    // later would make Vite re-optimize and reload the pages mid-run.
    optimizeDeps: {
      include: ['comlink', 'hash-wasm', 'yjs', 'tinybase', 'tinybase/synchronizers/synchronizer-broadcast-channel'],
    },
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false, watch: null },
  });
  await server.listen();
  return server;
}
