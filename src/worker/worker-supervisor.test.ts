import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ManualClock, settle } from '../common/testing/manual-clock.js';
import type { LeaderLock } from './leader-lock.js';
import type { ResolvedOptions } from './open-options.js';
import { CONTROL_TIMEOUT_MS, type ShardSlot } from './shard-slot.js';
import { WorkerSupervisor } from './worker-supervisor.js';

/**
 * A stand-in for a shard worker, over a real MessageChannel with Comlink: it
 * answers `init` and then dies (as a worker killed or crashed mid-spawn does),
 * so nothing it was asked after `init` is ever answered.
 */
function dyingWorker(spawned: { count: number; terminated: number }): Worker {
  const { port1, port2 } = new MessageChannel();
  spawned.count++;
  let dead = false;
  Comlink.expose(
    {
      init: async () => {
        dead = true;
      },
      onChanges: () => new Promise(() => undefined),
      watch: () => new Promise(() => undefined),
      serveWrites: () => new Promise(() => undefined),
      becomeFollower: () => new Promise(() => undefined),
      status: () => (dead ? new Promise(() => undefined) : Promise.resolve({})),
    },
    port2 as unknown as Comlink.Endpoint,
  );
  return Object.assign(port1 as unknown as Worker, {
    terminate: () => {
      spawned.terminated++;
      port1.close();
    },
  });
}

describe('WorkerSupervisor', () => {
  it('a worker that dies while it is being started does not leave its shard restarting for good: the restart fails within the control timeout and the next check replaces it', async () => {
    const clock = new ManualClock();
    const spawned = { count: 0, terminated: 0 };
    const slot = {
      shard: 0,
      lockHeld: false,
      restarts: 0,
      restarting: undefined,
      writer: { resend: () => undefined },
    } as unknown as ShardSlot;
    const supervisor = new WorkerSupervisor({
      options: { name: 'db', shards: 1, createWorker: () => dyingWorker(spawned) } as unknown as ResolvedOptions,
      tabId: 'tab-a',
      slots: [slot],
      clock,
      lock: {} as LeaderLock,
      dispatch: () => undefined,
      watchedPrefixes: () => [],
      closed: () => false,
      superseded: () => undefined,
    });
    const errors: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      const first = dyingWorker(spawned);
      slot.worker = first;
      const restarting = supervisor.restart(slot, first);
      await settle();
      expect(slot.restarting).toBeDefined();
      // Before every step of a spawn was bounded, this restart waited on the dead worker for ever.
      await clock.advance(CONTROL_TIMEOUT_MS + 1);
      await restarting;
      expect(slot.restarting).toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(String((errors[0] as unknown[])[0])).toContain('restarting shard 0 failed; will retry');

      // The status checks find the silent worker and start another.
      supervisor.start();
      await clock.advance(3000);
      expect(spawned.count).toBeGreaterThanOrEqual(3);
      expect(slot.restarts).toBeGreaterThanOrEqual(2);
      supervisor.stop();
    } finally {
      console.error = consoleError;
      supervisor.stop();
    }
  });
});
