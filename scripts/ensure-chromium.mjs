// Makes sure the Chromium that tests and benchmarks drive is installed.
// Playwright's own browser download cannot work on these machines, so tidal
// uses Debian's chromium package: installed here with apt-get when we are
// root, otherwise we say exactly what to install and stop.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { chromiumPath } from './chromium.mjs';

if (existsSync(chromiumPath)) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (process.env.TIDAL_CHROMIUM || !isRoot) {
  console.error(
    `tidal: no Chromium at ${chromiumPath}.\n` +
      (process.env.TIDAL_CHROMIUM
        ? 'TIDAL_CHROMIUM points at a path that does not exist.'
        : 'Install it with: sudo apt-get update && sudo apt-get install -y chromium\n' +
          'or point TIDAL_CHROMIUM at a Chromium or Chrome binary.'),
  );
  process.exit(1);
}

console.log('tidal: installing Debian chromium for the browser tests (apt-get)...');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execSync('apt-get update -qq', { stdio: 'inherit', env });
execSync('apt-get install -y -qq chromium', { stdio: 'inherit', env });
if (!existsSync(chromiumPath)) {
  console.error(`tidal: apt-get finished but ${chromiumPath} is still missing.`);
  process.exit(1);
}
