/**
 * Fault injection in a shard's worker, behind the database's
 * `{ debug: true }` (`TidalDebug`): corrupt or drop the next payload the
 * leader ships, snapshot and compact now, hang the worker. Refused with
 * `InvalidArgument` when the database was not opened for debugging, and
 * in a tab that does not lead the shard.
 */
import type { Clock } from '../common/clock.js';
import { TidalError } from '../common/errors.js';
import { FaultyTransport } from '../transport/faulty-transport.js';
import type { Leadership, ShardRole } from './leadership.js';
import type { ShardHostConfig } from './shard-host-config.js';

/** The debug hooks of one worker's shard. */
export class HostFaults {
  private readonly config: ShardHostConfig;
  private readonly leadership: Leadership;
  private readonly clock: Clock;

  constructor(config: ShardHostConfig, leadership: Leadership, clock: Clock) {
    this.config = config;
    this.leadership = leadership;
    this.clock = clock;
  }

  /** Flips a byte of (`'flip'`) or loses (`'drop'`) the next payload this leader ships, to every follower; `what` names the call. */
  injectNext(fault: 'flip' | 'drop', what: string): void {
    this.requireDebug(what);
    const role = this.ledHere(`call ${what} in the leader tab`);
    for (const shipping of [role.crossTab, role.inTab]) if (shipping?.link instanceof FaultyTransport) shipping.link.injectNext(fault);
  }

  /** Snapshots this (leader) shard now and compacts its log: see `TidalDebug.snapshotNow`. */
  async snapshotNow(): Promise<{ snapshotLsn: number; firstLsn: number }> {
    this.requireDebug('snapshotNow');
    const role = this.ledHere('snapshot it from the leader tab');
    const taken = await role.snapshots.snapshotNow();
    await role.snapshots.compactLog();
    return { snapshotLsn: taken?.lsn ?? 0, firstLsn: role.wal.firstLsn };
  }

  /** Blocks this worker for `ms` (a hung worker answers nothing, ships nothing). */
  hang(ms: number): void {
    this.requireDebug('hang');
    const until = this.clock.now() + Math.min(Math.max(0, ms), 60_000);
    while (this.clock.now() < until) {
      // spin
    }
  }

  /** The leader role, or `InvalidArgument` saying which tab leads and what to do (`instead`). */
  private ledHere(instead: string): Extract<ShardRole, { kind: 'leader' }> {
    const role = this.leadership.role;
    if (role.kind === 'leader') return role;
    throw new TidalError(
      'InvalidArgument',
      `shard ${this.config.shard} is led by tab ${this.leadership.leaderTab ?? '(none yet)'}, not this one: ${instead}`,
    );
  }

  private requireDebug(what: string): void {
    if (!this.config.debug) throw new TidalError('InvalidArgument', `${what} is fault injection: open the database with { debug: true }`);
  }
}
