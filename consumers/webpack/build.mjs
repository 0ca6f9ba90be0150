// webpack 5 follows `new Worker(new URL('./x.js', import.meta.url))` by itself: the shard worker
// becomes a chunk of its own with no configuration.
import { cpSync } from 'node:fs';
import { resolve } from 'node:path';
import webpack from 'webpack';

const stats = await new Promise((done, fail) =>
  webpack(
    {
      mode: 'production',
      entry: './src/main.js',
      output: { path: resolve('dist'), filename: 'main.js', clean: true },
      experiments: { topLevelAwait: true },
      devtool: false,
    },
    (error, result) => (error ? fail(error) : done(result)),
  ),
);
if (stats.hasErrors()) {
  console.error(stats.toString('errors-only'));
  process.exit(1);
}
cpSync('index.html', 'dist/index.html');
