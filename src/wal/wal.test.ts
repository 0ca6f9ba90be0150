import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './memory-storage.js';
import { deferredScenarios } from './testing/deferred-scenarios.js';
import { recoveryReadScenarios } from './testing/recovery-read-scenarios.js';
import { readScenarios } from './testing/read-scenarios.js';
import { retentionScenarios } from './testing/retention-scenarios.js';
import { walScenarios } from './testing/wal-scenarios.js';
import { Wal } from './wal.js';

describe('Wal on MemoryStorage', () => {
  for (const [name, scenario] of Object.entries({
    ...walScenarios,
    ...retentionScenarios,
    ...deferredScenarios,
    ...recoveryReadScenarios,
    ...readScenarios,
  })) {
    it(name, () => scenario(async () => new MemoryStorage()));
  }

  it('loses nothing acknowledged in durable mode across a crash', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: 2048 });
    const acked: number[] = [];
    for (let i = 0; i < 100; i++) acked.push((await wal.append([i])).last);
    const lost = wal.append([100]); // issued, never awaited before the crash
    storage.crash();
    await lost.catch(() => undefined);
    const { wal: recovered, report } = await Wal.open(storage, { shard: 0, segmentBytes: 2048 });
    expect(report.issues).toEqual([]);
    const events: unknown[] = [];
    for await (const { event } of recovered.read(1)) events.push(event);
    expect(events.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(recovered.lastLsn).toBeGreaterThanOrEqual(acked[acked.length - 1]!);
  });

  it("a stale leader that opened the log before another wrote it never overwrites the other leader's segment", async () => {
    const storage = new MemoryStorage();
    // Two leaders of one term (one of them stale) open the empty log, then one writes and lets go.
    const { wal: stale } = await Wal.open(storage, { shard: 0 });
    const { wal: leader } = await Wal.open(storage, { shard: 0 });
    for (let i = 0; i < 5; i++) await leader.append([`acked ${i}`]);
    await leader.close();
    await expect(stale.append(['stale'])).rejects.toMatchObject({ code: 'StorageError' });
    const { wal: reopened } = await Wal.open(storage, { shard: 0 });
    const events: unknown[] = [];
    for await (const { event } of reopened.read(1)) events.push(event);
    expect(events).toEqual(Array.from({ length: 5 }, (_, i) => `acked ${i}`));
  });

  it('opens the next segment file ahead, and a crash or a close leaves no trace of it', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0, segmentBytes: 4096 });
    for (let i = 0; i < 12; i++) await wal.append([new Uint8Array(200).fill(i)]);
    await new Promise((resolve) => setTimeout(resolve, 0)); // the file opened ahead is there now
    const sealed = wal.segments().length;
    expect((await storage.list()).length).toBe(sealed + 1); // the next segment's, empty
    storage.crash();
    const { wal: recovered, report } = await Wal.open(storage, { shard: 0, segmentBytes: 4096 });
    expect(report.issues).toEqual([]);
    expect(report.bytesCut).toBe(0);
    expect(recovered.lastLsn).toBe(12);
    // Rolls go on through the file opened ahead; the close removes the one opened last.
    for (let i = 12; i < 40; i++) await recovered.append([new Uint8Array(200).fill(i)]);
    await recovered.close();
    const kept = recovered.segments().map((s) => s.id.fileName());
    expect((await storage.list()).sort()).toEqual(kept.sort());
    const { wal: reopened, report: again } = await Wal.open(storage, { shard: 0 });
    expect(again.issues).toEqual([]);
    const events: Uint8Array[] = [];
    for await (const { event } of reopened.read(1)) events.push(event as Uint8Array);
    expect(events.map((e) => e[0])).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('in relaxed mode a crash may lose unflushed appends but never corrupts the log', async () => {
    const storage = new MemoryStorage();
    const { wal } = await Wal.open(storage, { shard: 0, durable: false });
    for (let i = 0; i < 20; i++) await wal.append([i]);
    storage.crash();
    const { wal: recovered, report } = await Wal.open(storage, { shard: 0 });
    expect(report.issues).toEqual([]);
    expect(recovered.lastLsn).toBeLessThanOrEqual(20);
    expect(await recovered.append(['after'])).toEqual({ first: recovered.lastLsn, last: recovered.lastLsn });
  });
});
