import { afterAll, describe, it } from 'vitest';
import * as Comlink from 'comlink';
import type { WalScenarioWorker } from './testing/wal-scenarios.worker.js';
import { deferredScenarios } from './testing/deferred-scenarios.js';
import { recoveryReadScenarios } from './testing/recovery-read-scenarios.js';
import { readScenarios } from './testing/read-scenarios.js';
import { retentionScenarios } from './testing/retention-scenarios.js';
import { walScenarios } from './testing/wal-scenarios.js';

// The same scenarios as wal.test.ts, on OPFS sync access handles in a real
// dedicated worker in Chromium.
const worker = new Worker(new URL('./testing/wal-scenarios.worker.ts', import.meta.url), { type: 'module' });
const remote = Comlink.wrap<WalScenarioWorker>(worker);
afterAll(() => worker.terminate());

describe('Wal on OpfsStorage (dedicated worker, Chromium)', () => {
  for (const name of Object.keys({
    ...walScenarios,
    ...retentionScenarios,
    ...deferredScenarios,
    ...recoveryReadScenarios,
    ...readScenarios,
  })) {
    it(name, () => remote.run(name));
  }
});
