import { describe, expect, it } from 'vitest';
import { TidalError } from '../common/errors.js';
import { MemoryRemote } from './memory-remote.js';
import type { GetOptions, ListOptions, PutOutcome, Remote } from './remote.js';
import { UPLOAD_REQUESTS } from './shard-uploader.js';
import { TestDevice, userKeys } from './testing/devices.js';

const SNAPSHOT_KIND = 4; // envelope byte 5 (docs/SYNC.md §4)

/** A store whose object puts wait until the test lets them through, one at a time; it records what started when. */
class GatedRemote implements Remote {
  readonly store = new MemoryRemote();
  /** In start order: 'chunk', 'snapshot' (object puts) and 'manifest'. */
  readonly started: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Object puts done when the manifest was first put. */
  doneAtManifest = -1;
  done = 0;
  failNext = false;
  private readonly gates: (() => void)[] = [];

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<PutOutcome> {
    if (key.includes('/m/')) return this.manifest(() => this.store.putIfAbsent(key, bytes));
    this.started.push(bytes[5] === SNAPSHOT_KIND ? 'snapshot' : 'chunk');
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    this.inFlight--;
    this.done++;
    if (this.failNext) {
      this.failNext = false;
      throw new TidalError('Unreachable', 'PUT failed (test)');
    }
    return this.store.putIfAbsent(key, bytes);
  }

  putIfMatch(key: string, bytes: Uint8Array, etag: string): Promise<PutOutcome> {
    return this.manifest(() => this.store.putIfMatch(key, bytes, etag));
  }

  get(key: string, options: GetOptions) {
    return this.store.get(key, options);
  }

  list(prefix: string, options?: ListOptions) {
    return this.store.list(prefix, options);
  }

  delete(key: string) {
    return this.store.delete(key);
  }

  /** Lets the oldest waiting put through; false if none waits. */
  release(): boolean {
    const gate = this.gates.shift();
    gate?.();
    return gate !== undefined;
  }

  private manifest(put: () => Promise<PutOutcome>): Promise<PutOutcome> {
    this.started.push('manifest');
    if (this.doneAtManifest < 0) this.doneAtManifest = this.done;
    return put();
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A device with ten chunks to upload (four events of ~360 bytes each), a snapshot due after the first two, in parts of 4000 bytes. */
async function writer(remote: GatedRemote) {
  const device = new TestDevice(remote, await userKeys(), { maxChunkBytes: 1600, snapshotMinBytes: 2000, snapshotPartBytes: 4000 });
  for (let i = 0; i < 40; i++) device.log.set(`item:${i}`, 'body', 'x'.repeat(200));
  return device;
}

describe('ShardUploader', () => {
  it("queues each put as its chunk is sealed, each of the snapshot's parts once sealed (taken once two chunks were cut), at most UPLOAD_REQUESTS at once; the manifest after all", async () => {
    const remote = new GatedRemote();
    const device = await writer(remote);
    let read = 0; // events the round has read from the log to seal
    const localEvents = device.log.localEvents.bind(device.log);
    device.log.localEvents = async function* (from: number) {
      for await (const event of localEvents(from)) yield (read++, event);
    };
    const round = device.sync.upload();
    for (let i = 0; i < 500 && read < 40; i++) await tick();
    // Every slot taken, and no put done yet: the whole log is sealed all the same (sealing does not wait for a slot).
    expect(read).toBe(40);
    expect(remote.inFlight).toBe(UPLOAD_REQUESTS);
    expect(remote.done).toBe(0);
    expect(remote.started[0]).toBe('chunk');
    while (remote.release()) await tick();
    const uploaded = await round;
    // The snapshot, due once two chunks were cut, was put part by part as each was sealed: before the last chunks, not after them.
    const parts = remote.started.filter((s) => s === 'snapshot').length;
    expect(parts).toBe(3); // ~9.6 kB of state
    expect(remote.started.indexOf('snapshot')).toBeGreaterThan(0);
    expect(remote.started.indexOf('snapshot')).toBeLessThan(remote.started.lastIndexOf('chunk'));
    expect(uploaded).toBeGreaterThan(8);
    expect(remote.started.filter((s) => s === 'chunk')).toHaveLength(uploaded);
    expect(remote.maxInFlight).toBe(UPLOAD_REQUESTS);
    expect(remote.doneAtManifest).toBe(uploaded + parts); // every object put was done before the manifest named them
    expect(remote.started.at(-1)).toBe('manifest');
    expect(device.sync.stats.snapshotsUp).toBe(1);
    // What was stored reads back: a second device gets everything.
    const reader = new TestDevice(remote.store, device.keys);
    await reader.sync.sync();
    expect(Buffer.from(reader.log.state.encode()).equals(Buffer.from(device.log.state.encode()))).toBe(true);
  });

  it('a failed put fails the round: no manifest, and no put of the round starts after it settles', async () => {
    const remote = new GatedRemote();
    const device = await writer(remote);
    const round = device.sync.upload().catch((error: unknown) => error);
    while (remote.inFlight < UPLOAD_REQUESTS) await tick();
    remote.failNext = true;
    while (remote.release()) await tick();
    expect(await round).toMatchObject({ code: 'Unreachable' });
    const started = remote.started.length;
    await tick();
    expect(remote.started).not.toContain('manifest');
    expect(remote.started.length).toBe(started);
    expect(remote.inFlight).toBe(0);
    expect(device.sync.stats.snapshotsUp).toBe(0);
  });
});
