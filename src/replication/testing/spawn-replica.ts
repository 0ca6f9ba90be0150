/**
 * Starts a replica test worker (`replica.worker.ts`) for a browser test,
 * registering its shutdown with the test's cleanups.
 */
import * as Comlink from 'comlink';
import type { ReplicaWorkerApi } from './replica.worker.js';

export function spawnReplica(cleanups: (() => Promise<void> | void)[]): Comlink.Remote<ReplicaWorkerApi> {
  const worker = new Worker(new URL('./replica.worker.ts', import.meta.url), { type: 'module' });
  const replica = Comlink.wrap<ReplicaWorkerApi>(worker);
  cleanups.push(async () => {
    await replica.stop().catch(() => undefined);
    replica[Comlink.releaseProxy]();
    worker.terminate();
  });
  return replica;
}
