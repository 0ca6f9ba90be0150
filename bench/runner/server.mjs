// The Vite dev server the bench page and its tabs are loaded from: 127.0.0.1
// only, no HMR and no file watching (others editing the tree during a long
// run must not reload a page under a suite).

import { join } from 'node:path';
import { build, createServer } from 'vite';

/** Where the bench serves the shard worker bundled as an application ships it (see `shardWorkerBundle`). */
export const BUNDLED_SHARD_WORKER_PATH = '/@bench/shard-host.worker.js';

/**
 * Starts the server on `port`; resolves to it, listening. `minify: false`
 * (a `--profile` run) bundles the shard worker with its names, so that its
 * CPU profiles name functions.
 */
export async function startServer(root, port, { minify = true } = {}) {
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
    plugins: [shardWorkerBundle(root, minify)],
  });
  await server.listen();
  return server;
}

/**
 * Serves the shard worker (src/worker/shard-host.worker.ts) as one bundled,
 * minified module, as an application's build (Vite, or any bundler
 * following `new URL(..., import.meta.url)`) ships it, at
 * `BUNDLED_SHARD_WORKER_PATH`. The dev server serves the worker as its ~95
 * source modules, each a request the new worker makes (and waits for) as it
 * discovers the imports: seconds per open on a loaded machine, a cost of
 * development, not of tidal. The open suite hands this URL to `openTidal`'s
 * `createWorker`. Built once, on the first request.
 */
function shardWorkerBundle(root, minify) {
  let bundled;
  return {
    name: 'tidal-bench-shard-worker-bundle',
    configureServer(server) {
      server.middlewares.use(BUNDLED_SHARD_WORKER_PATH, (req, res, next) => {
        bundled ??= bundleShardWorker(root, minify);
        bundled.then(
          (code) => {
            res.setHeader('Content-Type', 'text/javascript');
            res.end(code);
          },
          (error) => next(error),
        );
      });
    },
  };
}

async function bundleShardWorker(root, minify) {
  const [result] = [].concat(
    await build({
      root,
      configFile: false,
      logLevel: 'warn',
      build: {
        write: false,
        minify,
        target: 'es2022',
        lib: { entry: join(root, 'src/worker/shard-host.worker.ts'), formats: ['es'], fileName: 'shard-host.worker' },
      },
    }),
  );
  const chunks = result.output.filter((file) => file.type === 'chunk');
  if (chunks.length !== 1) throw new Error(`bench: the shard worker bundled into ${chunks.length} chunks, expected one`);
  return chunks[0].code;
}
