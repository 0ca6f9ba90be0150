import { defineConfig } from '@playwright/test';
// @ts-expect-error -- plain ESM helper shared with the bench and Vitest runners
import { chromiumArgs, chromiumPath } from './scripts/chromium.mjs';

// End-to-end tests: `e2e/*.spec.ts` drive the pages in `e2e/pages/`, served
// by Vite, in Debian's Chromium (never a downloaded browser). One worker:
// these tests start several tabs and workers each, on a 2-core machine.
// TIDAL_E2E_PORT moves the dev server off 5199 if that port is taken.
const port = Number(process.env['TIDAL_E2E_PORT'] ?? 5199);
const origin = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: 'e2e',
  testMatch: '*.spec.ts',
  testIgnore: 'pages/**',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: !!process.env['CI'],
  reporter: 'list',
  webServer: {
    // 127.0.0.1, not localhost: Node may bind localhost to ::1 only. Both are
    // secure contexts, which OPFS, Web Locks and BroadcastChannel need.
    command: `node node_modules/vite/bin/vite.js --host 127.0.0.1 --port ${port} --strictPort`,
    url: `${origin}/e2e/pages/harness.html`,
    reuseExistingServer: !process.env['CI'],
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
  use: {
    baseURL: origin,
    headless: true,
    trace: 'retain-on-failure',
    launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
