/**
 * Sync at scale, in Node, on the memory store with injected latency, lost
 * requests, lost answers and reordering: many users, each with several
 * devices writing and syncing under random schedules, some crashing
 * mid-way, compacting their logs, uploading and joining from snapshots.
 * Checks convergence (equal encoded state on every device of a user),
 * exactly-once counts, and isolation between users; then measures what one
 * sync round costs as devices and change grow, against history, and what a
 * device joining late costs as the history grows.
 *
 * SYNC_SIM_SEEDS=1,2,3 replays seeds (CI runs two).
 */
import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { mulberry32 } from '../common/random.js';
import { MemoryRemote } from './memory-remote.js';
import { TestDevice, userKeys } from './testing/devices.js';

const seeds = (process.env['SYNC_SIM_SEEDS'] ?? '1,2').split(',').map(Number);
const encoded = (d: TestDevice) => Buffer.from(d.log.state.encode()).toString('hex');
const tolerant = (e: unknown) => (isTidalError(e, 'Unreachable') || isTidalError(e, 'StorageError') ? undefined : Promise.reject(e));

describe('sync simulation', () => {
  for (const seed of seeds) {
    it(`many users, several devices each, random schedules, faults and crashes converge exactly once (seed ${seed})`, async () => {
      const random = mulberry32(seed);
      const remote = new MemoryRemote({ random, latencyMs: [0, 2], loss: 0.05, answerLoss: 0.05 });
      const options = { maxChunkBytes: 300, snapshotMinBytes: 300 }; // small: many chunks, snapshots and trimmed chains
      const users = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const keys = await userKeys();
          const devices = Array.from({ length: 2 + Math.floor(random() * 3) }, () => new TestDevice(remote, keys, options));
          return { keys, devices, clicks: new Map<string, number>() };
        }),
      );
      for (let step = 0; step < 400; step++) {
        if (step === 250) for (const u of users) u.devices.push(new TestDevice(remote, u.keys, options)); // joins late
        const user = users[Math.floor(random() * users.length)]!;
        const device = user.devices[Math.floor(random() * user.devices.length)]!;
        const roll = random();
        if (roll < 0.6) {
          const key = `item:${Math.floor(random() * 20)}`;
          const by = 1 + Math.floor(random() * 5);
          device.log.increment(key, 'click', by);
          user.clicks.set(key, (user.clicks.get(key) ?? 0) + by);
        } else if (roll < 0.7) {
          device.log.set(`item:${Math.floor(random() * 20)}`, 'title', `t${step}`);
        } else if (roll < 0.75) {
          device.log.add(`item:${Math.floor(random() * 20)}`, 'labels', `l${Math.floor(random() * 5)}`);
        } else if (roll < 0.76) {
          device.log.compact(Infinity); // as far as sync's retention lets it
        } else if (roll < 0.775) {
          device.log.crashAfterMerges = Math.floor(random() * 3); // dies during its next pull
          await device.sync.sync().catch(tolerant);
          device.reopen();
        } else {
          // A few devices of the user sync at once: their requests interleave on the store.
          await Promise.all(user.devices.filter(() => random() < 0.6).map((d) => d.sync.sync().catch(tolerant)));
        }
      }
      // Quiesce: everyone syncs until every device of every user agrees.
      for (let round = 0; round < 100; round++) {
        await Promise.all(users.flatMap((u) => u.devices.map((d) => d.sync.sync().catch(tolerant))));
        if (users.every((u) => new Set(u.devices.map(encoded)).size === 1)) break;
      }
      for (const user of users) {
        expect(new Set(user.devices.map(encoded)).size).toBe(1);
        for (const device of user.devices) {
          for (const [key, clicks] of user.clicks) expect(device.log.state.counterValue(key, 'click')).toBe(clicks);
          expect(Object.keys(device.sync.stats.refused)).toEqual([]); // faults of the network are not refusals
        }
      }
      // Users share the bucket, never state.
      expect(new Set(users.map((u) => encoded(u.devices[0]!))).size).toBe(users.length);
      expect(remote.counters.lost).toBeGreaterThan(0);
      const all = users.flatMap((u) => u.devices);
      expect(all.reduce((n, d) => n + d.sync.stats.snapshotsUp, 0)).toBeGreaterThan(0);
      expect(all.reduce((n, d) => n + d.sync.stats.snapshotsMerged, 0)).toBeGreaterThan(0);
    });
  }

  it('a sync round costs what changed, not the history: requests and bytes by devices, change and history', async () => {
    const rows: { devices: number; history: number; change: number; requests: number; bytesDown: number; bytesUp: number }[] = [];
    for (const devices of [2, 4, 8]) {
      for (const history of [100, 1000]) {
        const remote = new MemoryRemote();
        const keys = await userKeys();
        const fleet = Array.from({ length: devices }, () => new TestDevice(remote, keys));
        for (let i = 0; i < history; i++) fleet[i % devices]!.log.increment(`item:${i % 50}`, 'click');
        for (let r = 0; r < 2; r++) for (const d of fleet) await d.sync.sync();
        for (const change of [0, 10, 100]) {
          const [writer, reader] = [fleet[0]!, fleet[1]!];
          for (let i = 0; i < change; i++) writer.log.increment(`item:${i % 50}`, 'click');
          await writer.sync.sync();
          const before = { ...reader.sync.stats };
          await reader.sync.sync();
          rows.push({
            devices,
            history,
            change,
            requests: reader.sync.stats.requests - before.requests,
            bytesDown: reader.sync.stats.bytesDown - before.bytesDown,
            bytesUp: reader.sync.stats.bytesUp - before.bytesUp,
          });
        }
      }
    }
    console.table(rows);
    const row = (d: number, h: number, c: number) => rows.find((r) => r.devices === d && r.history === h && r.change === c)!;
    for (const devices of [2, 4, 8]) {
      // Nothing changed: one LIST, nothing read.
      expect(row(devices, 1000, 0)).toMatchObject({ requests: 1, bytesDown: 0, bytesUp: 0 });
      // One device changed: LIST + its manifest + its chunk, whatever the number of devices.
      expect(row(devices, 1000, 10).requests).toBe(3);
      for (const change of [10, 100]) {
        // Ten times the history, the same change: the same bytes, within the manifest's few entries.
        expect(row(devices, 1000, change).bytesDown).toBeLessThan(row(devices, 100, change).bytesDown * 1.5);
      }
      // Ten times the change: bytes grow with it.
      expect(row(devices, 1000, 100).bytesDown).toBeGreaterThan(row(devices, 1000, 10).bytesDown * 3);
    }
  });

  it('a device joining late costs the state and the recent chunks, not the history', async () => {
    const rows: { history: number; requests: number; bytesDown: number; historyBytes: number }[] = [];
    for (const history of [1000, 4000, 16000]) {
      const remote = new MemoryRemote();
      const keys = await userKeys();
      const options = { maxChunkBytes: 4000, snapshotMinBytes: 16_000 };
      const fleet = [0, 1].map(() => new TestDevice(remote, keys, options));
      for (let i = 0; i < history; i++) {
        fleet[i % 2]!.log.increment(`item:${i % 50}`, 'click');
        if (i % 200 === 199) for (const d of fleet) await d.sync.sync();
      }
      for (const d of fleet) await d.sync.sync();
      const late = new TestDevice(remote, keys, options);
      await late.sync.sync();
      expect(Buffer.from(late.log.state.encode())).toEqual(Buffer.from(fleet[1]!.log.state.encode()));
      rows.push({
        history,
        requests: late.sync.stats.requests,
        bytesDown: late.sync.stats.bytesDown,
        historyBytes: fleet.reduce((sum, d) => sum + d.sync.stats.bytesUp, 0),
      });
    }
    console.table(rows);
    // Sixteen times the history: about the same cost (the state of 50 entities, and at most two snapshot intervals of chunks).
    expect(rows[2]!.bytesDown).toBeLessThan(rows[0]!.bytesDown * 2);
    expect(rows[2]!.requests).toBeLessThan(rows[0]!.requests * 2);
    expect(rows[2]!.bytesDown).toBeLessThan(rows[2]!.historyBytes / 8);
  });
});
