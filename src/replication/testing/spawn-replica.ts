/**
 * Starts a replica test worker (`replica.worker.ts`) for a browser test;
 * it is stopped and terminated when the test finishes.
 */
import * as Comlink from 'comlink';
import { onTestFinished } from 'vitest';
import type { ReplicaWorkerApi } from './replica.worker.js';

export function spawnReplica(): Comlink.Remote<ReplicaWorkerApi> {
  const worker = new Worker(new URL('./replica.worker.ts', import.meta.url), { type: 'module' });
  const replica = Comlink.wrap<ReplicaWorkerApi>(worker);
  onTestFinished(async () => {
    await replica.stop().catch(() => undefined);
    replica[Comlink.releaseProxy]();
    worker.terminate();
  });
  return replica;
}
