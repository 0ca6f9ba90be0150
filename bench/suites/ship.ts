/**
 * The ship suite: WAL shipping from a leader worker to a follower, through
 * the real `WalShipper` and `FollowerDb`, and the limit it is read against,
 * measured in the same run. Both roles run in dedicated module workers
 * (`ship.worker.ts`), each with its WAL on OPFS; MB is 10^6 bytes.
 *
 * Throughput: the leader builds a log of 1,000 × 100-byte events per batch
 * (102,073-byte batches, as in the wal suite) with the default 4 MiB
 * segments, until 16 segments are sealed (~67 MB). Each round, a fresh
 * `WalShipper` (its commit cache empty) ships that log, so every sealed
 * segment travels whole, read from the leader's storage. MB/s = bytes of
 * the sealed segments / (the end time − the time the shipper started,
 * i.e. just before the first send), both taken as
 * `performance.timeOrigin + performance.now()` in their workers (the suite
 * checks first that the realms' clocks agree).
 * - `ship.message_channel.mb_per_s` (what the issue defines: shipping
 *   "including verification on receipt"): over a `MessagePortTransport`,
 *   the segment buffers transferred, to a receiver that verifies each
 *   payload exactly as FollowerDb does on receipt (`verifyPayload`: the
 *   footer digest over views of the received buffer and the batch walk)
 *   and acknowledges it; ends when the last segment is verified.
 * - `ship.structured_clone.mb_per_s`: the same with transfer off
 *   (`EndpointTransport`, `transfer: false`): `postMessage` copies each
 *   buffer.
 * - `ship.apply.message_channel.mb_per_s`: transferred, to a whole
 *   `FollowerDb` on a fresh OPFS folder: it verifies, decodes every event,
 *   stores its own durable copy (a whole sealed segment in one write) and
 *   applies the events to a **no-op state machine**; ends when the last
 *   LSN of the last sealed segment is applied. Reported for what a
 *   replica's full receive path costs.
 * - `limit.blake3.receiver.mb_per_s`: the package's BLAKE3 (`loadBlake3().hash`,
 *   the instance FollowerDb uses: the WASM SIMD build in Chromium) over the
 *   same sealed segment bytes, one call per segment, in the follower's worker.
 * - `limit.blake3_hash_wasm.receiver.mb_per_s`: the same with hash-wasm's
 *   BLAKE3 (no SIMD), a round after each of the former.
 * Rounds alternate the two shipping modes and interleave limit rounds; one
 * warm-up round of each is not counted; each metric is the median.
 *
 * Diagnostics, over the same segment bytes in the follower's worker (what
 * the receive path is made of, so that a gap to the limit can be
 * explained): `ship.follower.scan.mb_per_s` (the segment scan FollowerDb
 * verifies with: BLAKE3 of the segment and the batch walk),
 * `ship.follower.decode.mb_per_s` (decoding every batch's events),
 * `ship.follower.import.mb_per_s` (`Wal.importBatches` into a durable OPFS
 * WAL, one call per segment: a write per batch, a second BLAKE3 pass for
 * the copy's own footer, segment rolls), `ship.follower.write_whole.mb_per_s`
 * (each segment written verbatim to a fresh OPFS file, one write and one
 * flush: what storing a verified sealed segment as it came would cost).
 * Medians of 3 rounds. The log also shows, per round, how long the
 * follower waited for segments (idle) versus worked, and the rates its
 * steps add up to when one thread runs them one after another.
 *
 * Lag: `lag.<carrier>.p50_ms` / `.p99_ms`: the leader (durable WAL on OPFS)
 * makes 1,000 single-event writes a second for 4.5 s, each its own awaited
 * `append` (so its own batch and commit); the time of each LSN's commit is
 * taken in the WAL's `onCommit` (before the shipper's listener runs), the
 * time of its apply in the follower's state machine (after its own WAL
 * copy is written and flushed). The first 0.5 s are warm-up. Timers in a
 * worker wake up every ~4 ms at best once nested, so writes go out in
 * small bursts (each still its own commit); the suite logs the spread.
 * - `message_channel`: worker to worker over a `MessagePortTransport`.
 * - `broadcast_channel`: worker to worker over `BroadcastChannelTransport`s
 *   on one channel name: the leader's worker and the follower's worker are
 *   two realms of this page (a second tab's worker is what production
 *   has; tabs of one origin may share a renderer process or not, the
 *   channel clones either way).
 */
import * as Comlink from 'comlink';
import { TidalError } from '../../src/common/errors.js';
import type { ShipBenchWorker, ShipLink, ShipLogShape } from './ship.worker.js';

type Report = (metric: string, value: number, unit: string) => void;
type Remote = Comlink.Remote<ShipBenchWorker>;

const SEALED_SEGMENTS = 16;
const SHIP_ROUNDS = 5;
const BREAKDOWN_ROUNDS = 3;
const LAG_RATE_PER_S = 1_000;
const LAG_MS = 4_500;
const LAG_WARMUP_MS = 500;
/** Longest a single worker call may take before the suite gives up on it. */
const CALL_TIMEOUT_MS = 120_000;
/** Largest clock disagreement between realms the lag figures tolerate. */
const MAX_CLOCK_SKEW_MS = 0.5;

const now = (): number => performance.timeOrigin + performance.now();
const round1 = (x: number): string => x.toFixed(1);
const round2 = (x: number): string => x.toFixed(2);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of ascending `sorted`. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface ShipWorker {
  readonly remote: Remote;
  /** Races a call against the worker failing and a generous time limit. */
  call<T>(what: string, call: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function startWorker(role: string): ShipWorker {
  const worker = new Worker(new URL('./ship.worker.ts', import.meta.url), { type: 'module', name: `ship ${role}` });
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => reject(new TidalError('Closed', `ship ${role} worker failed: ${event.message}`));
  });
  failed.catch(() => {}); // may reject while nothing awaits it
  const remote = Comlink.wrap<ShipBenchWorker>(worker);
  const call = <T>(what: string, promise: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TidalError('Timeout', `ship ${role}: ${what} took longer than ${CALL_TIMEOUT_MS} ms`)),
        CALL_TIMEOUT_MS,
      );
    });
    return Promise.race([promise, failed, timedOut]).finally(() => clearTimeout(timer));
  };
  return {
    remote,
    call,
    async close() {
      try {
        await call('cleanup', remote.cleanup());
      } finally {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      }
    },
  };
}

/**
 * How far the worker's clock (`timeOrigin + now()`) is from this page's:
 * the midpoint estimate of the tightest of 20 round trips. Throws if it is
 * beyond `MAX_CLOCK_SKEW_MS`, which would make cross-realm times meaningless.
 */
async function clockSkew(worker: ShipWorker, role: string): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 20; i++) {
    const before = now();
    const there = await worker.call('clock probe', worker.remote.now());
    const after = now();
    if (after - before < best.rtt) best = { rtt: after - before, offset: there - (before + after) / 2 };
  }
  if (Math.abs(best.offset) > MAX_CLOCK_SKEW_MS + best.rtt / 2) {
    throw new TidalError(
      'ClockDrift',
      `the ${role} worker's clock is ${round2(best.offset)} ms off this page's (round trip ${round2(best.rtt)} ms): cross-realm times cannot be compared`,
    );
  }
  return best.offset;
}

// ------------------------------------------------------------ throughput

/** `npm run bench -- ship --profile`: more shipping rounds after the counted ones, CPU-profiled (bench/README.md). */
const profiling = new URLSearchParams(location.search).get('profile') === '1';

/** Three transferred rounds until verified, then one until applied, each set CPU-profiled in the page and both workers (the runner's tab 0); no figure reported. */
async function profiledRounds(leader: ShipWorker, follower: ShipWorker, shape: ShipLogShape): Promise<void> {
  const tabs = window.__tidalBenchTabs;
  if (!tabs) throw new TidalError('InvalidArgument', '`--profile` needs `npm run bench` (bench/run.mjs profiles the page)');
  await tabs({ op: 'profile-start', tab: 0 });
  for (let i = 0; i < 3; i++) await shipRound(leader, follower, shape, false, 'verified');
  await tabs({ op: 'profile-stop', tab: 0, label: 'ship-verified' });
  await tabs({ op: 'profile-start', tab: 0 });
  await shipRound(leader, follower, shape, false, 'applied');
  await tabs({ op: 'profile-stop', tab: 0, label: 'ship-applied' });
}

/**
 * One shipping round, MB/s of sealed segments from the shipper's start to
 * the last one verified (`until: 'verified'`: the receiver runs FollowerDb's
 * verification and acknowledges) or applied (`until: 'applied'`: a whole
 * FollowerDb, storing its own durable copy and applying every event).
 */
async function shipRound(
  leader: ShipWorker,
  follower: ShipWorker,
  shape: ShipLogShape,
  copy: boolean,
  until: 'verified' | 'applied',
): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const leaderLink: ShipLink = { kind: 'port', port: port1, copy };
  const followerLink: ShipLink = { kind: 'port', port: port2, copy };
  await leader.call('openLeaderLink', leader.remote.openLeaderLink(Comlink.transfer(leaderLink, [port1])));
  if (until === 'verified') {
    await follower.call('openVerifier', follower.remote.openVerifier(Comlink.transfer(followerLink, [port2]), shape.lastSealedLsn));
  } else {
    await follower.call('openFollower', follower.remote.openFollower(Comlink.transfer(followerLink, [port2]), shape.lastSealedLsn));
  }
  try {
    const startedAt = await leader.call('startShipping', leader.remote.startShipping());
    let endedAt: number;
    if (until === 'verified') {
      const result = await follower.call('verifierRound', follower.remote.verifierRound());
      if (result.bytesVerified < shape.sealedBytes)
        throw new TidalError('Corrupt', `the verifier verified ${result.bytesVerified} bytes of ${shape.sealedBytes}`);
      console.log(`ship: verified round: verifying ${round1(result.verifyMs)} ms, waiting between segments ${round1(result.idleMs)} ms`);
      endedAt = result.verifiedAt;
    } else {
      const result = await follower.call('followerRound', follower.remote.followerRound(shape.lastSealedLsn));
      if (result.payloadsRejected > 0)
        throw new TidalError('Corrupt', `the follower rejected ${result.payloadsRejected} payloads of a clean link`);
      if (result.bytesVerified < shape.sealedBytes)
        throw new TidalError('Corrupt', `the follower verified ${result.bytesVerified} bytes of ${shape.sealedBytes}`);
      if (result.duplicates > 0) console.warn(`ship: ${result.duplicates} duplicate payloads in a round`);
      console.log(`ship: applied round: follower idle ${round1(result.idleMs)} ms`);
      endedAt = result.appliedAt;
    }
    const ms = endedAt - startedAt;
    console.log(`ship: ${copy ? 'cloned' : 'transferred'} round until ${until}: ${round1(ms)} ms`);
    return shape.sealedBytes / 1e6 / (ms / 1000);
  } finally {
    await leader.call('closeLeaderRound', leader.remote.closeLeaderRound());
    if (until === 'verified') await follower.call('closeVerifier', follower.remote.closeVerifier());
    else await follower.call('closeFollower', follower.remote.closeFollower());
  }
}

async function measureThroughput(report: Report): Promise<void> {
  const leader = startWorker('leader');
  const follower = startWorker('follower');
  let measured = false;
  try {
    const skews = [await clockSkew(leader, 'leader'), await clockSkew(follower, 'follower')];
    console.log(`ship: worker clock offsets ${skews.map(round2).join(', ')} ms`);
    await Promise.all([leader.call('warmUp', leader.remote.warmUp()), follower.call('warmUp', follower.remote.warmUp())]);
    const shape = await leader.call('buildLog', leader.remote.buildLog(SEALED_SEGMENTS));
    console.log(
      `ship: log of ${shape.segments} segments (${shape.sealed} sealed, ${shape.sealedBytes} bytes up to LSN ${shape.lastSealedLsn}), ${shape.batches} batches of ~${Math.round(shape.batchBytes)} bytes`,
    );
    const bytes = await leader.call('sealedSegmentBytes', leader.remote.sealedSegmentBytes());
    await follower.call(
      'setSegments',
      follower.remote.setSegments(
        Comlink.transfer(
          bytes,
          bytes.map((b) => b.buffer as ArrayBuffer),
        ),
      ),
    );

    // Warm-up: one round of each, not counted.
    await shipRound(leader, follower, shape, false, 'verified');
    await shipRound(leader, follower, shape, true, 'verified');
    await shipRound(leader, follower, shape, false, 'applied');
    await follower.call('blake3Round', follower.remote.blake3Round());
    await follower.call('blake3Round', follower.remote.blake3Round('wasm'));

    const transferred: number[] = [];
    const cloned: number[] = [];
    const applied: number[] = [];
    const blake3: number[] = [];
    const hashWasm: number[] = [];
    for (let i = 0; i < SHIP_ROUNDS; i++) {
      const cloneFirst = i % 2 === 1;
      if (cloneFirst) cloned.push(await shipRound(leader, follower, shape, true, 'verified'));
      transferred.push(await shipRound(leader, follower, shape, false, 'verified'));
      if (!cloneFirst) cloned.push(await shipRound(leader, follower, shape, true, 'verified'));
      applied.push(await shipRound(leader, follower, shape, false, 'applied'));
      blake3.push(await follower.call('blake3Round', follower.remote.blake3Round()));
      hashWasm.push(await follower.call('blake3Round', follower.remote.blake3Round('wasm')));
    }
    console.log(
      `ship: rounds (MB/s): transferred ${transferred.map(round1).join(', ')}; cloned ${cloned.map(round1).join(', ')}; applied ${applied.map(round1).join(', ')}; blake3 ${blake3.map(round1).join(', ')}; hash-wasm blake3 ${hashWasm.map(round1).join(', ')}`,
    );
    report('ship.message_channel.mb_per_s', median(transferred), 'MB/s');
    report('ship.structured_clone.mb_per_s', median(cloned), 'MB/s');
    report('ship.apply.message_channel.mb_per_s', median(applied), 'MB/s');
    report('limit.blake3.receiver.mb_per_s', median(blake3), 'MB/s');
    report('limit.blake3_hash_wasm.receiver.mb_per_s', median(hashWasm), 'MB/s');
    if (profiling) await profiledRounds(leader, follower, shape);

    const parts = { scan: [] as number[], decode: [] as number[], importWal: [] as number[], writeWhole: [] as number[] };
    for (let i = 0; i < BREAKDOWN_ROUNDS; i++) {
      const b = await follower.call('breakdown', follower.remote.breakdown());
      parts.scan.push(b.scan);
      parts.decode.push(b.decode);
      parts.importWal.push(b.importWal);
      parts.writeWhole.push(b.writeWhole);
      console.log(
        `ship: receive path (MB/s): blake3 ${round1(b.blake3)}, scan ${round1(b.scan)}, decode ${round1(b.decode)}, ` +
          `import into OPFS WAL ${round1(b.importWal)}, whole-segment OPFS write ${round1(b.writeWhole)}`,
      );
    }
    const scan = median(parts.scan);
    const decode = median(parts.decode);
    const importWal = median(parts.importWal);
    const writeWhole = median(parts.writeWhole);
    // One thread does it all, one step after another: the rates add as resistances.
    const serial = (...rates: number[]) => 1 / rates.reduce((sum, rate) => sum + 1 / rate, 0);
    console.log(
      `ship: the follower's steps in series (MB/s): today scan+decode+import ${round1(serial(scan, decode, importWal))}; ` +
        `storing sealed segments whole ${round1(serial(scan, decode, writeWhole))}; and decoding off the receive path ${round1(serial(scan, writeWhole))}`,
    );
    report('ship.follower.scan.mb_per_s', scan, 'MB/s');
    report('ship.follower.decode.mb_per_s', decode, 'MB/s');
    report('ship.follower.import.mb_per_s', importWal, 'MB/s');
    report('ship.follower.write_whole.mb_per_s', writeWhole, 'MB/s');
    measured = true;
  } finally {
    await closeBoth(leader, follower, measured);
  }
}

async function closeBoth(leader: ShipWorker, follower: ShipWorker, measured: boolean): Promise<void> {
  const results = await Promise.allSettled([leader.close(), follower.close()]);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failure) return;
  if (measured) throw failure.reason;
  // The measurement already failed: that error is the one to report.
  console.warn(`ship: cleanup after a failure also failed: ${String(failure.reason)}`);
}

// ------------------------------------------------------------------- lag

/** Commit-to-apply lags (ms) of a steady stream of single-event writes over `carrier`. */
async function lagRound(carrier: 'message_channel' | 'broadcast_channel'): Promise<number[]> {
  const leader = startWorker(`${carrier} leader`);
  const follower = startWorker(`${carrier} follower`);
  let measured = false;
  try {
    const skews = [await clockSkew(leader, 'leader'), await clockSkew(follower, 'follower')];
    console.log(`ship: ${carrier}: worker clock offsets ${skews.map(round2).join(', ')} ms`);
    await Promise.all([leader.call('warmUp', leader.remote.warmUp()), follower.call('warmUp', follower.remote.warmUp())]);
    let leaderLink: ShipLink;
    let followerLink: ShipLink;
    const transfers: Transferable[][] = [[], []];
    if (carrier === 'message_channel') {
      const { port1, port2 } = new MessageChannel();
      leaderLink = { kind: 'port', port: port1 };
      followerLink = { kind: 'port', port: port2 };
      transfers[0]!.push(port1);
      transfers[1]!.push(port2);
    } else {
      const channel = `tidal-bench-ship-${crypto.randomUUID()}`;
      leaderLink = { kind: 'broadcast', channel };
      followerLink = { kind: 'broadcast', channel };
    }
    await leader.call('openLagLink', leader.remote.openLagLink(Comlink.transfer(leaderLink, transfers[0]!)));
    await follower.call('openLagFollower', follower.remote.openLagFollower(Comlink.transfer(followerLink, transfers[1]!)));
    await leader.call('startLagLeader', leader.remote.startLagLeader());
    const written = await leader.call('writeSteadily', leader.remote.writeSteadily(LAG_RATE_PER_S, LAG_MS));
    const applied = await follower.call('applyTimes', follower.remote.applyTimes(written.lastLsn));
    const { commitAt } = written;
    const { applyAt } = applied;
    const start = commitAt[1]!;
    const lags: number[] = [];
    for (let lsn = 1; lsn <= written.lastLsn; lsn++) {
      if (commitAt[lsn]! - start < LAG_WARMUP_MS) continue;
      lags.push(applyAt[lsn]! - commitAt[lsn]!);
    }
    if (lags.length === 0) throw new TidalError('Corrupt', `no writes after the warm-up (${written.lastLsn} in all)`);
    // Times from two realms agree within MAX_CLOCK_SKEW_MS (checked above) at 0.1 ms resolution: a lag a
    // little below 0 is that uncertainty and counts as 0; one further below means the clocks disagree.
    const impossible = lags.filter((lag) => lag < -MAX_CLOCK_SKEW_MS).length;
    if (impossible > 0)
      throw new TidalError(
        'ClockDrift',
        `${impossible} events were applied more than ${MAX_CLOCK_SKEW_MS} ms before they were committed: the realms' clocks disagree`,
      );
    const roundedUp = lags.filter((lag) => lag < 0).length;
    if (roundedUp > 0) console.log(`ship: ${carrier}: ${roundedUp} lags within the clocks' uncertainty below 0, counted as 0`);
    for (let i = 0; i < lags.length; i++) if (lags[i]! < 0) lags[i] = 0;
    console.log(
      `ship: ${carrier}: ${written.lastLsn} writes in ${written.wakeUps} timer wake-ups (largest burst ${written.largestBurst}); ` +
        `follower saw ${applied.rejected} rejected, ${applied.gaps} gaps, ${applied.duplicates} duplicates`,
    );
    measured = true;
    return lags.sort((a, b) => a - b);
  } finally {
    await closeBoth(leader, follower, measured);
  }
}

async function measureLag(report: Report, carrier: 'message_channel' | 'broadcast_channel'): Promise<void> {
  const lags = await lagRound(carrier);
  const p50 = percentile(lags, 0.5);
  const p99 = percentile(lags, 0.99);
  const mean = lags.reduce((a, b) => a + b, 0) / lags.length;
  console.log(
    `ship: ${carrier} lag over ${lags.length} writes (ms): p50 ${round2(p50)}, p90 ${round2(percentile(lags, 0.9))}, p99 ${round2(p99)}, max ${round2(lags[lags.length - 1]!)}, mean ${round2(mean)}`,
  );
  report(`lag.${carrier}.p50_ms`, p50, 'ms');
  report(`lag.${carrier}.p99_ms`, p99, 'ms');
}

/** Measures the ship metrics, their limit and the lag metrics; see the module comment for each. */
export async function run(report: Report): Promise<void> {
  await measureThroughput(report);
  await measureLag(report, 'message_channel');
  await measureLag(report, 'broadcast_channel');
}
