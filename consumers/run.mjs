// Consumer tests: tidal as an application gets it from npm. Packs the tarball (`npm pack`, which
// builds dist/), copies each app of consumers/ into a fresh temporary folder, installs the tarball
// and the app's bundler from the npm registry there, builds the app, serves the build on 127.0.0.1
// and opens it in two tabs of headless Chromium: a write in one tab must be read in the other, both
// ways. The TypeScript app only type-checks.
//
//     node consumers/run.mjs                # every app
//     node consumers/run.mjs webpack vite   # some of them
//
// Installs use npm's own cache (--prefer-offline), so a second run downloads nothing. The apps pin
// their bundlers' versions; the temporary folders are removed at the end (TIDAL_CONSUMERS_KEEP=1
// keeps them, for a look at a failure).
import { execFile, spawn } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright';
import { chromiumArgs, chromiumPath } from '../scripts/chromium.mjs';
import { freePort } from '../scripts/free-port.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const run = promisify(execFile);

/**
 * Each app: how it is built, how its pages are served (a static build, or a dev server), and the
 * queries its page is opened with (`worker=create`: the app constructs the workers as the
 * `createWorker` example of the API reference shows).
 */
const APPS = {
  vite: { build: 'build', serve: 'static', queries: ['', 'worker=create'] },
  'vite-dev': { from: 'vite', serve: 'vite-dev', queries: ['', 'worker=create'] },
  esbuild: { build: 'build', serve: 'static' },
  webpack: { build: 'build', serve: 'static', queries: ['', 'worker=create'] },
  typescript: { build: 'build' },
};

/** Content types of what the builds emit (module workers must be served as JavaScript). */
const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

const wanted = process.argv.slice(2);
for (const name of wanted) if (!(name in APPS)) throw new Error(`consumers: no app named ${name} (apps: ${Object.keys(APPS).join(', ')})`);
const apps = wanted.length > 0 ? wanted : Object.keys(APPS);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const work = mkdtempSync(join(tmpdir(), 'tidal-consumers-'));
let browser;
let failed = false;
try {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, maxBuffer: 16 << 20 });
  const packed = JSON.parse(stdout.slice(stdout.indexOf('[')))[0];
  const tarball = join(work, packed.filename);
  console.log(`consumers: packed ${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(0)} KiB (${elapsed()})`);
  const outside = packed.files
    .map((f) => f.path)
    .filter((p) => !/^(dist\/|docs\/[^/]+\.md$|README\.md$|LICENSE$|THIRD-PARTY\.md$|QUICKSTART\.md$|package\.json$)/.test(p));
  if (outside.length > 0) throw new Error(`the tarball holds files outside dist/, the docs and the licences: ${outside.join(', ')}`);

  // Install and build every app at once (the time goes to the network, the disk and waiting on
  // the other helpers of a busy machine), then test them in the browser one after another.
  const sources = [...new Set(apps.map((name) => APPS[name].from ?? name))];
  const installs = new Map(
    sources.map((source) => {
      const dir = join(work, source);
      cpSync(join(here, source), dir, {
        recursive: true,
        filter: (path) => !path.includes(`${sep}node_modules`) && !path.includes(`${sep}dist`),
      });
      const install = run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', '--loglevel=error', tarball],
        { cwd: dir },
      );
      return [source, install.then(() => dir)];
    }),
  );
  const builds = new Map(
    apps.map((name) => {
      const app = APPS[name];
      const build = installs.get(app.from ?? name).then(async (dir) => {
        if (app.build) await run('npm', ['run', '--silent', app.build], { cwd: dir, maxBuffer: 16 << 20 });
        return dir;
      });
      build.catch(() => {}); // awaited below, in order
      return [name, build];
    }),
  );

  for (const name of apps) {
    const app = APPS[name];
    try {
      const dir = await builds.get(name);
      if (app.serve) {
        browser ??= await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true });
        const server = app.serve === 'static' ? await serveStatic(join(dir, 'dist')) : await serveViteDev(dir);
        try {
          for (const query of app.queries ?? ['']) {
            await twoTabs(browser, server.origin, name, query).catch((error) => {
              throw new Error(`${query || 'default'}: ${describe(error)}`);
            });
          }
        } finally {
          await server.close();
        }
      }
      console.log(`consumers: ${name} ok (${elapsed()})`);
    } catch (error) {
      failed = true;
      console.error(`consumers: ${name} FAILED: ${describe(error)}`);
    }
  }
} catch (error) {
  failed = true;
  console.error(`consumers: ${describe(error)}`);
} finally {
  await browser?.close();
  if (process.env.TIDAL_CONSUMERS_KEEP) console.log(`consumers: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
console.log(`consumers: ${failed ? 'FAILED' : 'all passed'} in ${elapsed()}`);
process.exit(failed ? 1 : 0);

/** Opens the app in two tabs of one browser context (one origin, one OPFS) and writes across them. */
async function twoTabs(browser, origin, name, query) {
  const context = await browser.newContext();
  const errors = [];
  try {
    const db = `${name.replace(/[^a-z0-9]/gi, '')}${query ? 'create' : ''}${Date.now()}`;
    const open = async () => {
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('requestfailed', (request) => errors.push(`${request.url()}: ${request.failure()?.errorText}`));
      page.on('response', (response) => response.status() >= 400 && errors.push(`${response.url()}: HTTP ${response.status()}`));
      await page.goto(`${origin}/?db=${db}${query ? `&${query}` : ''}`);
      await page
        .waitForFunction(() => document.querySelector('#status')?.textContent === 'ready', null, { timeout: 30_000 })
        .catch(() => {
          throw new Error(`the page did not open the database${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`);
        });
      return page;
    };
    const first = await open();
    const second = await open();
    const token = await first.evaluate(() => window.tidal.increment('item:1', 'click', 3));
    const seen = await second.evaluate((after) => window.tidal.get('item:1', { after }), token);
    if (seen?.counters?.click !== 3) throw new Error(`the second tab read ${JSON.stringify(seen)} after the first wrote click = 3`);
    const back = await second.evaluate(() => window.tidal.set('item:1', 'label', 'from the second tab'));
    const label = await first.evaluate(async (after) => (await window.tidal.get('item:1', { after }))?.fields.label, back);
    if (label !== 'from the second tab') throw new Error(`the first tab read label ${JSON.stringify(label)} after the second set it`);
    if (errors.length > 0) throw new Error(errors.join('; '));
    await first.evaluate(() => window.tidal.close());
    await second.evaluate(() => window.tidal.close());
  } finally {
    await context.close();
  }
}

/** Serves a folder on 127.0.0.1 at a free port. */
async function serveStatic(folder) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const file = join(folder, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(folder) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((done) => server.close(done)) };
}

/** Starts the app's Vite dev server (`npm run dev`) on 127.0.0.1 at a free port. */
async function serveViteDev(dir) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(dir, 'node_modules/vite/bin/vite.js'), '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const origin = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`vite exited (${child.exitCode}): ${output}`);
    if (
      await fetch(origin).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (tries > 300) throw new Error(`vite did not answer on ${origin}: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    close: () =>
      new Promise((done) => {
        child.once('exit', done);
        child.kill();
      }),
  };
}

function describe(error) {
  const output = [error.stdout, error.stderr].filter(Boolean).join('\n').trim();
  return output ? `${error.message}\n${output}` : (error.stack ?? String(error));
}
