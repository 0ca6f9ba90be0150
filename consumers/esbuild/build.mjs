// esbuild does not follow `new URL('./x.js', import.meta.url)`: it bundles the app and leaves that
// URL as it is, so tidal's `new URL('./shard-host.worker.js', import.meta.url)` now points next to
// the bundle. The worker is therefore an entry point of its own (`tidal/worker`), emitted there
// under that name.
import { cpSync } from 'node:fs';
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: { main: 'src/main.js', 'shard-host.worker': 'tidal/worker' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
});
cpSync('index.html', 'dist/index.html');
