/**
 * Device sync against Ceph's RADOS Gateway (started by bench/run.mjs for
 * this suite, one node on loopback; its endpoint and credentials arrive as
 * `window.__tidalCeph`), beside the raw throughput of the same store in the
 * same run, from the same page:
 *
 * - `limit.s3_put.mb_per_s` / `limit.s3_get.mb_per_s`: 8 objects of 4 MiB
 *   (random bytes) PUT, then GET, through `S3Remote` (SigV4 signing, same
 *   client, no sync work), with as many requests in flight as sync keeps
 *   (`UPLOAD_REQUESTS`, `DOWNLOAD_REQUESTS`): the store's raw ceiling here.
 *   A first, untimed round warms the store (the first PUTs to a fresh
 *   bucket are slower: its index is being created).
 * - `sync.upload.mb_per_s`: a shard log of ~16 MiB of writes (sets of 1 KiB
 *   strings on 10k entities, on a real `Wal` over memory storage) uploaded by
 *   `ShardSync`: read the log, encode, seal (AES-256-GCM), name (keyed
 *   BLAKE3), put-if-absent each chunk, swap the manifest. Bytes are the
 *   sealed bytes stored, over the whole round.
 * - `sync.download_apply.mb_per_s`: a second device pulls all of it: list,
 *   manifest, chunks, check names, decrypt, decode and validate every
 *   operation, merge into its own `Wal` + `ShardLeader` (appended and
 *   applied to CRDT state). Bytes are the sealed bytes read.
 *
 * Each is the best of 2 runs (a fresh database folder each time), after an
 * untimed one, as the raw rounds have theirs: the first upload and pull of
 * a page run cold (code not yet optimised, the seal worker starting, the
 * connections opening) and measured 20-30% below the next ones here.
 *
 * `npm run bench -- sync --profile`: one run, with a CPU profile of the
 * bench page (where all of it runs: tab 0 of the runner's tab service) and
 * its workers for the upload and for the download, in bench/profiles/.
 */
import { ShardLeader } from '../../src/session/shard-leader.js';
import { LeaderSyncLog } from '../../src/sync/leader-sync-log.js';
import { S3Remote } from '../../src/sync/s3-remote.js';
import { DOWNLOAD_REQUESTS } from '../../src/sync/shard-puller.js';
import { UPLOAD_REQUESTS } from '../../src/sync/shard-uploader.js';
import { RequestPool } from '../../src/sync/request-pool.js';
import { ShardSync } from '../../src/sync/shard-sync.js';
import { SyncKeys, toHex } from '../../src/sync/sync-key.js';
import { MemoryStorage } from '../../src/wal/memory-storage.js';
import { Wal } from '../../src/wal/wal.js';

type Report = (metric: string, value: number, unit: string) => void;

interface CephHandle {
  readonly endpoints: string[];
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

declare global {
  interface Window {
    __tidalCeph?: CephHandle;
  }
}

const MB = 1024 * 1024;
const RAW_OBJECTS = 8;
const RAW_SIZE = 4 * MB;
const LOG_BYTES = 16 * MB;
const VALUE_BYTES = 1024;
const profiling = new URLSearchParams(location.search).get('profile') === '1';
const RUNS = profiling ? 1 : 2;

/** The runner's tab service (bench/runner/tabs.mjs); tab 0 is this page. */
type ProfileRequest = { op: 'profile-start'; tab: 0 } | { op: 'profile-stop'; tab: 0; label: string };
const tabService = () => (window as unknown as { __tidalBenchTabs?: (request: ProfileRequest) => Promise<unknown> }).__tidalBenchTabs;

/** `work`, profiled as `label` when the run was started with `--profile`. */
async function profiled<T>(label: string, work: () => Promise<T>): Promise<T> {
  const service = tabService();
  if (!profiling || !service) return work();
  await service({ op: 'profile-start', tab: 0 });
  const result = await work();
  await service({ op: 'profile-stop', tab: 0, label });
  return result;
}

const hex = (n: number) => {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return toHex(b);
};

async function device(remote: S3Remote, keys: SyncKeys, database: string) {
  const { wal } = await Wal.open(new MemoryStorage(), { shard: 0, durable: false });
  const id = hex(16);
  const leader = await ShardLeader.open({ wal, replica: `${id.slice(0, 8)}.0` });
  const sync = new ShardSync({ remote, keys, database, device: id, shard: 0, shards: 1, epoch: 1, log: new LeaderSyncLog(wal, leader) });
  return { wal, leader, sync };
}

async function fillLog(leader: ShardLeader): Promise<void> {
  const session = hex(16);
  const startedAt = Date.now();
  const value = 'x'.repeat(VALUE_BYTES);
  const writes = LOG_BYTES / VALUE_BYTES;
  const perBatch = 256;
  let seq = 0;
  for (let i = 0; i < writes; i += perBatch) {
    const requests = [];
    for (let j = 0; j < perBatch; j++) {
      seq++;
      requests.push({
        session,
        startedAt,
        seq,
        acked: seq - 1,
        ops: [{ op: 'set' as const, key: `item:${(i + j) % 10_000}`, field: 'body', value }],
      });
    }
    await leader.writeBatch(requests);
  }
}

export async function run(report: Report): Promise<void> {
  const ceph = window.__tidalCeph;
  if (!ceph) throw new Error('the sync suite needs Ceph: run it through npm run bench (bench/run.mjs starts the cluster)');
  const remote = new S3Remote({ ...ceph, timeoutMs: 60_000 });

  // The store's raw ceiling, with the same client.
  const payload = new Uint8Array(RAW_SIZE);
  for (let i = 0; i < RAW_SIZE; i += 65_536) crypto.getRandomValues(payload.subarray(i, i + 65_536));
  let bestPut = 0;
  let bestGet = 0;
  const rawRound = async () => {
    const prefix = `bench/raw/${hex(8)}/`;
    const puts = new RequestPool(UPLOAD_REQUESTS);
    let t0 = performance.now();
    for (let i = 0; i < RAW_OBJECTS; i++) {
      await puts.start(async () => {
        const out = await remote.putIfAbsent(`${prefix}${i}`, payload);
        if (!out.ok) throw new Error('raw PUT refused');
      });
    }
    await puts.drain();
    const put = (RAW_OBJECTS * RAW_SIZE) / MB / ((performance.now() - t0) / 1000);
    const gets = new RequestPool(DOWNLOAD_REQUESTS);
    t0 = performance.now();
    for (let i = 0; i < RAW_OBJECTS; i++) {
      await gets.start(async () => {
        const got = await remote.get(`${prefix}${i}`, { maxBytes: RAW_SIZE });
        if (got?.bytes.byteLength !== RAW_SIZE) throw new Error('raw GET lost an object');
      });
    }
    await gets.drain();
    const get = (RAW_OBJECTS * RAW_SIZE) / MB / ((performance.now() - t0) / 1000);
    return { put, get };
  };
  await rawRound(); // warm-up, not counted
  for (let r = 0; r < RUNS; r++) {
    const { put, get } = await rawRound();
    bestPut = Math.max(bestPut, put);
    bestGet = Math.max(bestGet, get);
  }
  report('limit.s3_put.mb_per_s', bestPut, 'MB/s');
  report('limit.s3_get.mb_per_s', bestGet, 'MB/s');

  let bestUp = 0;
  let bestDown = 0;
  // One user key for every run, as a device keeps its key (and its seal worker) for the session; each run
  // syncs a database of its own.
  const userKey = new Uint8Array(32);
  crypto.getRandomValues(userKey);
  const keys = await SyncKeys.from(userKey);
  for (let r = -1; r < RUNS; r++) {
    const timed = r >= 0; // run -1 warms up, as the raw round does
    const database = `bench-${hex(4)}`;
    const writer = await device(remote, keys, database);
    await fillLog(writer.leader);
    const measure = (label: string, work: () => Promise<number>) => (timed ? profiled(label, work) : work());
    let seconds = await measure('sync-upload', async () => {
      const t0 = performance.now();
      await writer.sync.sync();
      return (performance.now() - t0) / 1000;
    });
    if (timed) bestUp = Math.max(bestUp, writer.sync.stats.bytesUp / MB / seconds);
    const reader = await device(remote, keys, database);
    seconds = await measure('sync-download', async () => {
      const t0 = performance.now();
      await reader.sync.sync();
      return (performance.now() - t0) / 1000;
    });
    if (reader.leader.state.crdt.keys().length !== 10_000) throw new Error('the reader did not merge every entity');
    if (timed) bestDown = Math.max(bestDown, reader.sync.stats.bytesDown / MB / seconds);
    await writer.wal.close();
    await reader.wal.close();
  }
  report('sync.upload.mb_per_s', bestUp, 'MB/s');
  report('sync.download_apply.mb_per_s', bestDown, 'MB/s');
}
