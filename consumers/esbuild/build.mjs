// esbuild does not follow `new URL('./x.js', import.meta.url)`: it bundles the app and leaves that
// URL as it is. So tidal's worker is an entry point of its own (`tidal/worker`, emitted as
// dist/tidal-worker.js), and the app starts it through `openTidal({ createWorker })`.
import { cpSync } from 'node:fs';
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: { main: 'src/main.js', 'tidal-worker': 'tidal/worker' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
});
cpSync('index.html', 'dist/index.html');
