/**
 * `MemorySyncLog`: one device's shard log reduced to what sync touches, for
 * unit tests and the simulation. Its `events` are the durable part (what a
 * WAL would hold): `reopen()` rebuilds the log from them, as a crash and
 * recovery would, so a test can stop a device mid-pull and check that
 * nothing is lost or merged twice. The state is a real `CrdtSignalState`.
 */
import { TidalError } from '../../common/errors.js';
import { HLC } from '../../crdt/hlc.js';
import type { CrdtOperation } from '../../crdt/operation.js';
import { CrdtSignalState } from '../../crdt/signal-state.js';
import { Encoder } from '../../common/bytes.js';
import { encodeValue, type Value } from '../../wal/payload.js';
import type { SnapshotSource } from '../format.js';
import { operationsToMerge } from '../state-merge.js';
import type { LocalEvent, SyncLog } from '../sync-log.js';

/** The session a memory log's writes are logged under. */
const MEMORY_SESSION = '5e55'.repeat(8);

/** An event of the durable log: written here, or merged from another device. */
export type MemoryLogEvent =
  | { readonly t: 'write'; readonly lsn: number; readonly ops: readonly CrdtOperation[] }
  | { readonly t: 'import'; readonly lsn: number; readonly device: string; readonly upTo: number; readonly ops: readonly CrdtOperation[] };

/** A device's log of one shard, in memory. */
export class MemorySyncLog implements SyncLog {
  readonly events: MemoryLogEvent[];
  readonly state = new CrdtSignalState();
  readonly replica: string;
  private readonly cursors = new Map<string, number>();
  private readonly hlc: HLC;
  lastLocalLsn = 0;
  /** Merges left before `merge` fails as a crash would (nothing appended); `Infinity`: never. */
  crashAfterMerges = Infinity;
  /** The first LSN still readable (`compact` moves it; the events before it stay, as a local snapshot would keep their effect). */
  firstLsn = 1;
  /** The lowest LSN sync asked to keep. */
  retained = 1;
  /** Snapshots merged (`mergeState` calls that advanced a cursor). */
  statesMerged = 0;

  constructor(replica: string, events: MemoryLogEvent[] = [], now: () => number = Date.now) {
    this.replica = replica;
    this.events = events;
    this.hlc = new HLC({ now, maxDriftMs: Infinity });
    for (const event of events) this.replay(event);
  }

  get lastLsn(): number {
    return this.events.length;
  }

  /** The same log after a crash: rebuilt from what was durable. */
  reopen(): MemorySyncLog {
    const log = new MemorySyncLog(this.replica, this.events);
    log.firstLsn = this.firstLsn;
    return log;
  }

  /** A local write (its operations stamped here). */
  increment(key: string, kind: string, by = 1): void {
    this.write([{ op: 'increment', key, kind, by, replica: this.replica, hlc: this.hlc.now() }]);
  }

  set(key: string, field: string, value: string | number): void {
    this.write([{ op: 'set', key, field, value, replica: this.replica, hlc: this.hlc.now() }]);
  }

  add(key: string, set: string, member: string | number): void {
    this.write([{ op: 'add', key, set, member, replica: this.replica, hlc: this.hlc.now() }]);
  }

  write(ops: readonly CrdtOperation[]): void {
    this.append({ t: 'write', lsn: this.events.length + 1, ops });
  }

  /** Compaction: events before `beforeLsn` (and before what sync retains) are no longer readable. */
  compact(beforeLsn: number): void {
    this.firstLsn = Math.max(this.firstLsn, Math.min(beforeLsn, this.retained, this.events.length + 1));
  }

  retain(fromLsn: number): void {
    this.retained = fromLsn;
  }

  snapshot(): SnapshotSource {
    return { lsn: this.events.length, cursors: new Map(this.cursors), state: this.state };
  }

  async mergeState(cursors: ReadonlyMap<string, number>, state: CrdtSignalState, _stateBytes: Uint8Array): Promise<void> {
    const advancing = [...cursors].filter(([device, upTo]) => upTo > this.cursor(device)).sort(([a], [b]) => (a < b ? -1 : 1));
    if (advancing.length === 0) return;
    if (this.crashAfterMerges-- <= 0) throw new TidalError('StorageError', 'simulated crash before the merge was appended');
    const ops = operationsToMerge(this.state, state);
    // One atomic append of several import events, as ShardLeader.mergeAll writes one batch.
    advancing.forEach(([device, upTo], i) =>
      this.append({ t: 'import', lsn: this.events.length + 1, device, upTo, ops: i === 0 ? ops : [] }),
    );
    this.statesMerged++;
  }

  /** The writes as a WAL would hold them: version-1 write events of one session, numbered by LSN. */
  async *localEvents(from: number): AsyncIterable<LocalEvent> {
    if (from < this.firstLsn) throw new TidalError('Corrupt', `LSNs from ${from} were compacted; the log starts at ${this.firstLsn}`);
    for (let i = Math.max(0, from - 1); i < this.events.length; i++) {
      const event = this.events[i]!;
      if (event.t !== 'write') continue;
      const logged = { t: 'write', session: MEMORY_SESSION, startedAt: 0, seq: event.lsn, acked: event.lsn - 1, at: 0, ops: event.ops };
      const encoder = new Encoder(256);
      encodeValue(encoder, logged as unknown as Value);
      yield { lsn: event.lsn, bytes: encoder.toBytes() };
    }
  }

  cursor(device: string): number {
    return this.cursors.get(device) ?? 0;
  }

  async merge(device: string, upTo: number, ops: readonly CrdtOperation[]): Promise<void> {
    if (this.crashAfterMerges-- <= 0) throw new TidalError('StorageError', 'simulated crash before the merge was appended');
    if (upTo <= this.cursor(device)) throw new TidalError('StaleWrite', `device ${device} is merged up to ${this.cursor(device)} already`);
    this.append({ t: 'import', lsn: this.events.length + 1, device, upTo, ops });
  }

  private append(event: MemoryLogEvent): void {
    this.events.push(event);
    this.replay(event);
  }

  private replay(event: MemoryLogEvent): void {
    for (const op of event.ops) {
      if (op.hlc !== undefined) this.hlc.receive(op.hlc);
      this.state.apply(op);
    }
    if (event.t === 'write') this.lastLocalLsn = event.lsn;
    else this.cursors.set(event.device, event.upTo);
  }
}
