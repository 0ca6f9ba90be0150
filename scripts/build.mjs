// `npm run build`: compiles the package into dist/ (ESM JavaScript, declarations, source maps
// with the sources inlined) with tsconfig.build.json, from a clean folder so that no file of a
// removed module lingers. Then checks that every `new URL('./x', import.meta.url)` in the output
// names a file that was emitted: the shard worker is loaded that way, and a wrong name would only
// show as a 404 in an application.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});

const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
const urlRE = /new URL\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g;
let missing = 0;
for (const file of files) {
  const path = join(dist, file);
  for (const [, , target] of readFileSync(path, 'utf8').matchAll(urlRE)) {
    if (!existsSync(resolve(dirname(path), target))) {
      console.error(`build: dist/${file} loads ${target}, which the build did not emit`);
      missing++;
    }
  }
}
if (missing > 0) process.exit(1);
console.log(`build: ${files.length} modules in ${relative(root, dist)}/`);
