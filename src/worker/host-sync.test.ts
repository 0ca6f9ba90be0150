import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SyncConfig } from '../sync/sync-options.js';
import { Retentions } from '../wal/retention.js';
import type * as HostSyncModule from './host-sync.js';
import type { ShardRole } from './leadership.js';
import type { ShardHostConfig } from './shard-host-config.js';

// HostSync imports the sync code (host-sync-code.ts) when a database that syncs takes the lead;
// each test gives that import its own outcome and loads host-sync.ts afresh.
const config = { db: 'db', shard: 0, shards: 1, sync: {} as SyncConfig } as ShardHostConfig;
const clock = { now: () => 0 } as never;

/** A leader's role whose log starts at `firstLsn` and keeps its retentions as a `Wal` does (`compactFloor`: what a compaction up to an LSN would keep). */
function leaderRole(firstLsn = 1): { role: ShardRole; released: string[]; compactFloor: (beforeLsn: number) => number } {
  const released: string[] = [];
  const retentions = new Retentions();
  const wal = {
    firstLsn,
    retain: (name: string, fromLsn: number) => retentions.retain(name, fromLsn),
    release: (name: string) => {
      released.push(name);
      retentions.release(name);
    },
  };
  const role = { kind: 'leader', wal, leader: {} } as unknown as ShardRole;
  return { role, released, compactFloor: (beforeLsn) => retentions.floor(beforeLsn) };
}

async function hostSync(code: () => object): Promise<typeof HostSyncModule> {
  vi.resetModules();
  vi.doMock('./host-sync-code.js', code);
  return import('./host-sync.js');
}

afterEach(() => vi.doUnmock('./host-sync-code.js'));

describe('HostSync', () => {
  it('rejects with Unreachable when the sync code cannot be loaded, and tries again on the next lead', async () => {
    let loads = 0;
    const { HostSync } = await hostSync(() => {
      loads++;
      throw new Error('failed to fetch the chunk');
    });
    const sync = new HostSync(config, clock);
    const error = await sync.start(leaderRole().role, 1).catch((e: unknown) => e);
    // (a TidalError of the modules loaded afresh, hence by name and code)
    expect(error).toMatchObject({ name: 'TidalError', code: 'Unreachable', details: { module: 'sync' } });
    expect((error as Error).cause).toBeInstanceOf(Error); // what the import rejected with
    await expect(sync.start(leaderRole().role, 2)).rejects.toMatchObject({ code: 'Unreachable' });
    expect(loads).toBe(2);
  });

  it('does not load the sync code for a database that does not sync', async () => {
    const code = vi.fn(() => ({}));
    const { HostSync } = await hostSync(code);
    await new HostSync({ ...config, sync: undefined }, clock).start(leaderRole().role, 1);
    expect(code).not.toHaveBeenCalled();
  });

  it('starts and stops a runner, releasing what it retained', async () => {
    const runner = { stop: vi.fn() };
    const startShardSync = vi.fn(() => Promise.resolve(runner));
    const { HostSync } = await hostSync(() => ({ startShardSync }));
    const sync = new HostSync(config, clock);
    const { role, released } = leaderRole();
    await sync.start(role, 7);
    expect(startShardSync).toHaveBeenCalledWith(config.sync, expect.objectContaining({ term: 7, wal: (role as { wal: unknown }).wal }));
    expect(sync.runner(role)).toBe(runner);
    sync.stop();
    expect(runner.stop).toHaveBeenCalledOnce();
    expect(released).toEqual(['device sync']);
    expect(sync.runner(role)).toBeUndefined();
  });

  it('starts nothing when stopped while the sync code loads, and drops a runner stopped while it started', async () => {
    let started: (() => void) | undefined;
    const runner = { stop: vi.fn() };
    const startShardSync = vi.fn(() => new Promise((done) => (started = () => done(runner))));
    const { HostSync } = await hostSync(() => ({ startShardSync }));
    const sync = new HostSync(config, clock);

    const first = leaderRole();
    const loading = sync.start(first.role, 1);
    sync.stop(); // stepped down before the code arrived
    await loading;
    expect(startShardSync).not.toHaveBeenCalled();
    expect(sync.runner(first.role)).toBeUndefined();

    const second = leaderRole();
    const starting = sync.start(second.role, 2);
    await vi.waitFor(() => expect(startShardSync).toHaveBeenCalledOnce());
    sync.stop(); // stepped down while the runner started
    started!();
    await starting;
    expect(runner.stop).toHaveBeenCalledOnce();
    expect(second.released).toEqual(['device sync']);
    expect(sync.runner(second.role)).toBeUndefined();
  });

  it('keeps the log from compaction while the sync code loads and the runner starts, and lets it go when the start fails', async () => {
    let loaded: (() => void) | undefined;
    const gate = new Promise<void>((done) => (loaded = done));
    const { HostSync } = await hostSync(() =>
      gate.then(() => ({ startShardSync: () => Promise.reject(new Error('the key could not be imported')) })),
    );
    const sync = new HostSync(config, clock);
    const { role, released, compactFloor } = leaderRole(40);
    const starting = sync.start(role, 1);
    // A snapshot at LSN 99 compacts while the code loads: nothing from LSN 40 on may go, none of it was uploaded.
    expect(compactFloor(100)).toBe(40);
    loaded!();
    await expect(starting).rejects.toThrow('the key could not be imported');
    // No runner: nothing holds the log back (an uploader that finds it compacted restarts from a snapshot).
    expect(released).toEqual(['device sync']);
    expect(compactFloor(100)).toBe(100);
    sync.stop();
    expect(released).toEqual(['device sync']); // released once
  });

  it('lets a round asked for while the sync code loads wait for the runner', async () => {
    let loaded: (() => void) | undefined;
    const gate = new Promise<void>((done) => (loaded = done));
    const runner = { stop: vi.fn() };
    const { HostSync } = await hostSync(() => gate.then(() => ({ startShardSync: () => Promise.resolve(runner) })));
    const sync = new HostSync(config, clock);
    const { role } = leaderRole();
    const starting = sync.start(role, 1);
    const asked = sync.started(() => role);
    expect(sync.runner(role)).toBeUndefined(); // not yet started
    loaded!();
    await expect(asked).resolves.toBe(runner);
    await starting;
  });
});
