/**
 * A shard's state as a snapshot body (docs/FORMAT.md §9.2): what the
 * leader writes (through the WAL's `SnapshotStore`) so that opening the
 * shard replays only the log after the snapshot's LSN. It holds everything
 * a `ShardState` built from the log: the CRDT state (its canonical
 * encoding), the idempotency store with its sessions and keys (so that
 * exactly-once survives a snapshot and a failover), the sync cursors and
 * the counters. Replicas that applied the same log encode the same bytes.
 *
 *     const body = encodeShardSnapshot(state);            // at state.appliedLsn
 *     restoreShardSnapshot(freshState, verified.body, verified.lsn);
 *     for await (const { lsn, event } of wal.read(verified.lsn + 1)) freshState.apply(lsn, event);
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { isTidalError, TidalError } from '../common/errors.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import type { ShardState } from './shard-state.js';

const BODY_VERSION = 1;

/** Encodes `state` as a snapshot body, at `state.appliedLsn`. */
export function encodeShardSnapshot(state: ShardState): Uint8Array {
  const enc = new Encoder(64 * 1024);
  enc.writeU8(BODY_VERSION);
  enc.writeVarUint(state.appliedLsn);
  enc.writeVarUint(state.refusedOps);
  enc.writeVarUint(state.lastLocalLsn);
  const devices = [...state.syncCursors.keys()].sort();
  enc.writeVarUint(devices.length);
  for (const device of devices) {
    enc.writeString(device);
    enc.writeVarUint(state.syncCursors.get(device)!);
  }
  enc.writeBytes(state.crdt.encode());
  state.idempotency.writeTo(enc);
  return enc.toBytes();
}

/**
 * Fills a fresh `state` (nothing applied yet) from a verified snapshot body
 * at `lsn`. Throws `MalformedPayload` (or `UnsupportedVersion`) when the
 * body does not decode exactly; `state` must then be discarded.
 */
export function restoreShardSnapshot(state: ShardState, body: Uint8Array, lsn: number): void {
  if (state.appliedLsn !== 0) throw new TidalError('InvalidArgument', 'a snapshot is restored into a fresh state only');
  const dec = new Decoder(body);
  try {
    const version = dec.readU8();
    if (version !== BODY_VERSION) {
      throw new TidalError(
        'UnsupportedVersion',
        `shard snapshot body version ${version} is not supported (this build reads ${BODY_VERSION})`,
      );
    }
    const appliedLsn = dec.readVarUint();
    if (appliedLsn !== lsn) throw new TidalError('HeaderMismatch', `snapshot body is at LSN ${appliedLsn}, its header says ${lsn}`);
    state.refusedOps = dec.readVarUint();
    state.lastLocalLsn = dec.readVarUint();
    const devices = dec.readVarUint();
    if (devices > dec.remaining) throw new TidalError('LengthOutOfBounds', `snapshot claims ${devices} sync cursors, past the end`);
    for (let i = 0; i < devices; i++) state.syncCursors.set(dec.readString(), dec.readVarUint());
    state.crdt = CrdtSignalState.decode(dec.readBytes());
    state.idempotency.readFrom(dec);
    if (dec.remaining !== 0) throw new TidalError('MalformedPayload', `shard snapshot body has ${dec.remaining} bytes past its end`);
    state.appliedLsn = appliedLsn;
  } catch (error) {
    if (isTidalError(error) && error.code !== 'MalformedPayload') {
      throw new TidalError('MalformedPayload', `shard snapshot body does not decode: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
