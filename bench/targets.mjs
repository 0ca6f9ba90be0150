// The performance targets `npm run bench` checks after every run.
//
// A target with a `limit` is a ratio, metric / limit, where the limit is a
// ceiling measured on the same machine in the same run (so the ratio means
// the same on a laptop and on CI); a target without one is absolute. Each
// has exactly one of `atLeast` / `atMost`. Targets whose metric (or limit)
// a run did not produce are skipped. Metric and limit must share a unit.
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

/** @type {readonly Target[]} */
export const targets = [
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
  { metric: 'reconcile.bytes_ratio', atMost: 0.05 },
  { metric: 'lag.message_channel.p99_ms', atMost: 5 },
  { metric: 'lag.broadcast_channel.p99_ms', atMost: 20 },
];
