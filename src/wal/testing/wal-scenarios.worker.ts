/**
 * A dedicated worker that runs the WAL scenarios on real OPFS (sync access
 * handles exist only in dedicated workers). `wal.browser.test.ts` drives it
 * with comlink, one scenario per call, each in a fresh OPFS folder.
 */
import * as Comlink from 'comlink';
import { OpfsStorage } from '../opfs-storage.js';
import { deferredScenarios } from './deferred-scenarios.js';
import { readScenarios } from './read-scenarios.js';
import { recoveryReadScenarios } from './recovery-read-scenarios.js';
import { retentionScenarios } from './retention-scenarios.js';
import { walScenarios } from './wal-scenarios.js';

const scenarios = { ...walScenarios, ...retentionScenarios, ...deferredScenarios, ...recoveryReadScenarios, ...readScenarios };

const api = {
  names(): string[] {
    return Object.keys(scenarios);
  },
  async run(name: string): Promise<void> {
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`no scenario named ${name}`);
    const root = ['tidal-test', `wal-${Date.now()}-${Math.random().toString(36).slice(2)}`];
    let n = 0;
    try {
      await scenario(async () => {
        const path = [...root, `s${n++}`];
        return OpfsStorage.open(path);
      });
    } catch (failure) {
      // A scenario that fails midway can leave a Wal open, and OPFS then
      // refuses to remove its folder: the failure, not that refusal, is what
      // the test must report.
      await OpfsStorage.destroy(root).catch((cleanup: unknown) => {
        if (failure instanceof Error) failure.message += ` (and its folder was left behind: ${String(cleanup)})`;
      });
      throw failure;
    }
    await OpfsStorage.destroy(root);
  },
};

export type WalScenarioWorker = typeof api;
Comlink.expose(api);
