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
 * Serves the shard worker (src/worker/shard-host.worker.ts) bundled and
 * minified as an application's build ships it (Vite with `worker: { format:
 * 'es' }`, as vite.config.ts has, or any bundler following `new URL(...,
 * import.meta.url)` that splits code): its entry at
 * `BUNDLED_SHARD_WORKER_PATH`, and the chunks it imports when it needs them
 * (the sync code, which a database that does not sync never loads) next to
 * it. The dev server serves the worker as its ~95 source modules, each a
 * request the new worker makes (and waits for) as it discovers the imports:
 * seconds per open on a loaded machine, a cost of development, not of tidal.
 * The open suite hands this URL to `openTidal`'s `createWorker`. Built once,
 * on the first request.
 */
function shardWorkerBundle(root, minify) {
  let bundled;
  const base = BUNDLED_SHARD_WORKER_PATH.slice(0, BUNDLED_SHARD_WORKER_PATH.lastIndexOf('/') + 1);
  return {
    name: 'tidal-bench-shard-worker-bundle',
    configureServer(server) {
      server.middlewares.use(base, (req, res, next) => {
        const name = (req.url ?? '').split('?')[0].replace(/^\//, '');
        bundled ??= bundleShardWorker(root, minify);
        bundled.then(
          (chunks) => {
            const code = chunks.get(name);
            if (code === undefined) return next();
            res.setHeader('Content-Type', 'text/javascript');
            res.end(code);
          },
          (error) => next(error),
        );
      });
    },
  };
}

/** The worker's chunks by file name; the entry's is the last segment of `BUNDLED_SHARD_WORKER_PATH`. */
export async function bundleShardWorker(root, minify = true) {
  const [result] = [].concat(
    await build({
      root,
      configFile: false,
      logLevel: 'warn',
      build: {
        write: false,
        minify,
        target: 'es2022',
        // As Vite bundles an application's workers: the entry exports nothing, so the code it shares
        // with the sync chunk stays in it (one request before the worker runs, not two).
        rollupOptions: { preserveEntrySignatures: false },
        lib: { entry: join(root, 'src/worker/shard-host.worker.ts'), formats: ['es'], fileName: 'shard-host.worker' },
      },
    }),
  );
  const chunks = result.output.filter((file) => file.type === 'chunk');
  const entries = chunks.filter((chunk) => chunk.isEntry);
  if (entries.length !== 1) throw new Error(`bench: the shard worker bundled into ${entries.length} entry chunks, expected one`);
  const entryName = BUNDLED_SHARD_WORKER_PATH.slice(BUNDLED_SHARD_WORKER_PATH.lastIndexOf('/') + 1);
  return new Map(chunks.map((chunk) => [chunk.isEntry ? entryName : chunk.fileName, chunk.code]));
}
