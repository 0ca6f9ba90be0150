import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
// @ts-expect-error -- plain ESM helper shared with the bench and e2e runners
import { chromiumArgs, chromiumPath } from './scripts/chromium.mjs';

// Two projects: pure logic in Node (`*.test.ts`, the library's and the demo's), and what needs a Worker,
// OPFS or real channel semantics in Debian's Chromium (`*.browser.test.ts`).
export default defineConfig({
  // Pre-bundle what workers import, so that Vite does not re-optimize (and reload) mid-run.
  optimizeDeps: { include: ['comlink', 'hash-wasm'] },
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['src/**/*.test.ts', 'demo/**/*.test.ts', 'bench/runner/**/*.test.mjs'],
          exclude: ['src/**/*.browser.test.ts', 'demo/**/*.browser.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'chromium',
          include: ['src/**/*.browser.test.ts'],
          testTimeout: 120_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
