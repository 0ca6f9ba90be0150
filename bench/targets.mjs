// The performance targets `npm run bench` checks after every run.
//
// A target with a `limit` is a ratio, metric / limit, where the limit is a
// ceiling measured on the same machine in the same run (so the ratio means
// the same on a laptop and on CI); a target without one is absolute. Each
// has exactly one of `atLeast` / `atMost`. Targets whose metric (or limit)
// a run did not produce are skipped. Metric and limit must share a unit.
//
// `comparisons` are ratios without a bound, for people: each peer's figure
// in the peers suite over tidal's, same run (bench/results/latest.json,
// "comparisons"; the table in bench/README.md).
//
// Names here are contracts with the suites that report them: see
// bench/README.md for what each one measures.

/**
 * @typedef {object} Target
 * @property {string} [name] label in the ratio table (default: the metric, or "metric / limit")
 * @property {string} metric the measured metric
 * @property {string} [limit] the ceiling the metric is divided by; absent for an absolute target
 * @property {number} [atLeast] the ratio (or value) must be >= this
 * @property {number} [atMost] the ratio (or value) must be <= this
 */

/**
 * @typedef {object} Comparison
 * @property {string} name label in latest.json
 * @property {string} metric the numerator
 * @property {string} limit the denominator
 */

/** @type {readonly Target[]} */
export const targets = [
  { name: 'sync.upload / limit.s3_put', metric: 'sync.upload.mb_per_s', limit: 'limit.s3_put.mb_per_s', atLeast: 0.7 },
  { name: 'sync.download_apply / limit.s3_get', metric: 'sync.download_apply.mb_per_s', limit: 'limit.s3_get.mb_per_s', atLeast: 0.7 },
  {
    name: 'wal.append.opfs / limit.opfs_write',
    metric: 'wal.append.opfs.mb_per_s',
    limit: 'limit.opfs_write.mb_per_s',
    atLeast: 0.7,
  },
  {
    name: 'wal.recovery / limit.blake3',
    metric: 'wal.recovery.mb_per_s',
    limit: 'limit.blake3.mb_per_s',
    atLeast: 0.8,
  },
  {
    // The ship suite measures BLAKE3 inside the receiving worker and reports
    // it under its own name, so it never collides with the wal suite's
    // main-thread limit.blake3.mb_per_s.
    name: 'ship.message_channel / limit.blake3.receiver',
    metric: 'ship.message_channel.mb_per_s',
    limit: 'limit.blake3.receiver.mb_per_s',
    atLeast: 0.8,
  },
  {
    // The idempotency check costs at most 10%: the session suite appends the
    // same write events with and without it (wal.append.memory appends
    // 100-byte binary events, which encode at another speed).
    name: 'session.append / session.append.baseline',
    metric: 'session.append.events_per_s',
    limit: 'session.append.baseline.events_per_s',
    atLeast: 0.9,
  },
  // openTidal on a database whose OPFS holds the events (the open suite; page cache warm).
  { metric: 'db.open.ms_per_1m_events', atMost: 300 },
  { metric: 'db.open.ms_per_5m_events', atMost: 1000 },
  { metric: 'reconcile.bytes_ratio', atMost: 0.05 },
  { metric: 'lag.message_channel.p99_ms', atMost: 5 },
  { metric: 'lag.broadcast_channel.p99_ms', atMost: 20 },
  // The peers suite (issue 12): tidal between two tabs, durable and
  // verified, against Yjs and TinyBase doing the same in the same run.
  {
    name: 'peers: tidal batched / Yjs tx1000, replicated events/s',
    metric: 'peers.tidal_batched.replicated.events_per_s',
    limit: 'peers.yjs_tx1000.replicated.events_per_s',
    atLeast: 2,
  },
  {
    name: 'peers: tidal per call / Yjs tx1000, replicated events/s',
    metric: 'peers.tidal_per_call.replicated.events_per_s',
    limit: 'peers.yjs_tx1000.replicated.events_per_s',
    atLeast: 1,
  },
  {
    name: 'peers: tidal batched / Yjs tx1000, bytes on the wire per event',
    metric: 'peers.tidal_batched.wire.bytes_per_event',
    limit: 'peers.yjs_tx1000.wire.bytes_per_event',
    atMost: 1,
  },
  {
    name: 'peers: tidal per call / Yjs tx1000, bytes on the wire per event',
    metric: 'peers.tidal_per_call.wire.bytes_per_event',
    limit: 'peers.yjs_tx1000.wire.bytes_per_event',
    atMost: 1,
  },
  {
    name: 'peers: tidal batched / TinyBase tx1000, reader memory growth',
    metric: 'peers.tidal_batched.reader.memory_growth.mb',
    limit: 'peers.tinybase_tx1000.reader.memory_growth.mb',
    atMost: 1,
  },
  {
    name: 'peers: tidal per call / TinyBase tx1000, reader memory growth',
    metric: 'peers.tidal_per_call.reader.memory_growth.mb',
    limit: 'peers.tinybase_tx1000.reader.memory_growth.mb',
    atMost: 1,
  },
  { metric: 'peers.tidal_batched.writer.main_thread.us_per_write', atMost: 1 },
  { metric: 'peers.tidal_per_call.writer.main_thread.us_per_write', atMost: 3 },
  // Stretch goals of issue 12 (Yjs tx1000 was the best peer when it was filed).
  {
    name: 'peers stretch: tidal batched / Yjs tx1000, replicated events/s',
    metric: 'peers.tidal_batched.replicated.events_per_s',
    limit: 'peers.yjs_tx1000.replicated.events_per_s',
    atLeast: 10,
  },
  {
    name: 'peers stretch: tidal batched / raw JSON, replicated events/s',
    metric: 'peers.tidal_batched.replicated.events_per_s',
    limit: 'peers.raw_json1000.replicated.events_per_s',
    atLeast: 0.5,
  },
];

/** The systems of the peers suite (bench/suites/peers.ts), tidal's first. */
export const peerSystems = [
  'tidal_batched',
  'tidal_per_call',
  'tidal_batched_awaited',
  'yjs_tx1000',
  'yjs_per_event',
  'tinybase_tx1000',
  'tinybase_per_event',
  'raw_json1000',
];

/** The figures the peers suite reports for each system, `peers.<system>.<figure>`. */
export const peerFigures = [
  'written.events_per_s',
  'replicated.events_per_s',
  'wire.bytes_per_event',
  'reader.memory_growth.mb',
  'writer.main_thread.us_per_write',
  'cpu.us_per_event',
];

/** @type {readonly Comparison[]} each peer's figure over each tidal's, e.g. peers.yjs_tx1000.replicated.events_per_s / peers.tidal_batched.replicated.events_per_s */
export const comparisons = peerSystems
  .filter((system) => !system.startsWith('tidal_'))
  .flatMap((peer) =>
    ['tidal_batched', 'tidal_per_call'].flatMap((tidal) =>
      peerFigures.map((figure) => ({
        name: `${peer} / ${tidal}: ${figure}`,
        metric: `peers.${peer}.${figure}`,
        limit: `peers.${tidal}.${figure}`,
      })),
    ),
  );
