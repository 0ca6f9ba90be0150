/**
 * Verifying what a follower receives, before it parses a single event: a
 * whole sealed segment is verified as recovery verifies it (every batch
 * digest and the v2 footer digest, or a v1 footer's digest over every
 * byte); a run of batches has every batch digest checked. BLAKE3 runs over views of the received buffer: nothing is
 * copied. The result holds views of the verified batches, in LSN order.
 */
import type { Blake3 } from '../common/blake3.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { WalSegmentPayload } from '../transport/transport.js';
import { decodeBatch, type DecodedBatch } from '../wal/format.js';
import { decodePayload, type Value } from '../wal/payload.js';
import { isNewerBatch, newerFormat, scanSegment } from '../wal/segment-scan.js';
import type { PreparedEvent, StateMachine } from './state-machine.js';

/** One verified batch of a payload. */
export interface VerifiedPayloadBatch {
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly eventCount: number;
  readonly hlc: bigint;
  /** The whole batch: a view of the received buffer. */
  readonly bytes: Uint8Array;
  /** Its payload part (the encoded events), a view too. */
  readonly payload: Uint8Array;
}

/** True when a payload is a whole segment file (it starts with the segment magic 'TDLS'), not a run of batches. */
export function isWholeSegment(payload: WalSegmentPayload): boolean {
  const head = new Uint8Array(payload.bytes, 0, Math.min(4, payload.bytes.byteLength));
  return head.length === 4 && head[0] === 0x54 && head[1] === 0x44 && head[2] === 0x4c && head[3] === 0x53;
}

/**
 * Verifies `payload` as a part of shard `shard`'s log. Throws a
 * `TidalError` (`Corrupt`, `DigestMismatch`, `Truncated`, `HeaderMismatch`,
 * `MalformedMessage`...) saying what is wrong; `VersionSkew` for a segment
 * or batch of a newer format whose digest verifies (a newer tidal's log,
 * not damage: see `newerFormat`).
 */
export function verifyPayload(b3: Blake3, payload: WalSegmentPayload, shard: ShardId): VerifiedPayloadBatch[] {
  if (payload.id.shard !== shard) {
    throw new TidalError('HeaderMismatch', `payload for shard ${payload.id.shard} sent to a replica of shard ${shard}`);
  }
  const bytes = new Uint8Array(payload.bytes);
  const found: DecodedBatch[] = [];
  if (isWholeSegment(payload)) {
    // scanSegment verifies every byte (docs/FORMAT.md §6); the batches are then only located.
    const scan = scanSegment(b3, bytes, payload.id, false);
    if (scan.kind !== 'good' || !scan.sealed) {
      throw new TidalError(
        'Corrupt',
        `segment ${payload.id.fileName()} failed verification${scan.kind === 'damaged' ? `: ${scan.message}` : ''}`,
      );
    }
    for (const start of scan.index.offsets) found.push(decodeBatch(b3, bytes, start, { verify: false }));
  } else {
    for (let at = 0; at < bytes.length; at = found[found.length - 1]!.end) {
      try {
        found.push(decodeBatch(b3, bytes, at));
      } catch (error) {
        if (isTidalError(error, 'UnsupportedVersion') && isNewerBatch(b3, bytes, at)) throw newerFormat(error);
        throw error;
      }
    }
  }
  if (found.length === 0) throw new TidalError('MalformedMessage', 'payload holds no batch');
  const batches: VerifiedPayloadBatch[] = [];
  let events = 0;
  for (const { header, start, payloadStart, end } of found) {
    if (header.shard !== undefined && header.shard !== shard) {
      throw new TidalError('HeaderMismatch', `batch of shard ${header.shard} in a payload for shard ${shard}`);
    }
    const previous = batches[batches.length - 1];
    if (previous && header.firstLsn !== previous.lastLsn + 1) {
      throw new TidalError('HeaderMismatch', `batches in one payload skip from LSN ${previous.lastLsn} to ${header.firstLsn}`);
    }
    batches.push({
      firstLsn: header.firstLsn,
      lastLsn: header.firstLsn + header.eventCount - 1,
      eventCount: header.eventCount,
      hlc: header.hlc,
      bytes: bytes.subarray(start, end),
      payload: bytes.subarray(payloadStart, end),
    });
    events += header.eventCount;
  }
  if (events !== payload.eventCount) {
    throw new TidalError('HeaderMismatch', `payload says ${payload.eventCount} events, its batches hold ${events}`);
  }
  return batches;
}

/**
 * The events of a batch whose digest verified, each checked by `machine`'s
 * `checkVersion` when it has one. A payload version or an event format this
 * build does not read is then a newer tidal's (`VersionSkew`), not damage:
 * found here, before anything of the batch is stored or applied.
 */
export function decodeVerifiedEvents(payload: Uint8Array, eventCount: number, machine?: StateMachine): Value[] {
  try {
    const events = decodePayload(payload, eventCount);
    if (machine?.checkVersion) for (const event of events) machine.checkVersion(event);
    return events;
  } catch (error) {
    if (isTidalError(error, 'UnsupportedVersion')) throw newerFormat(error);
    throw error;
  }
}

/**
 * The events of a verified batch, each read and checked by `machine`
 * (`prepare`, or at `apply` for a machine without it), ready to apply: all
 * of the batch reads before any of it is applied. Throws a `TidalError`
 * for an event refused (`VersionSkew` for one of a newer format).
 */
export function prepareVerifiedEvents(payload: Uint8Array, eventCount: number, machine: StateMachine): PreparedEvent[] {
  if (machine.prepareBatch) {
    try {
      return machine.prepareBatch(payload, eventCount);
    } catch (error) {
      if (isTidalError(error, 'UnsupportedVersion')) throw newerFormat(error);
      throw error;
    }
  }
  const events = decodeVerifiedEvents(payload, eventCount, machine);
  const prepared: PreparedEvent[] = new Array(events.length);
  try {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      prepared[i] = machine.prepare ? machine.prepare(event) : (lsn) => machine.apply(lsn, event);
    }
  } catch (error) {
    if (isTidalError(error, 'UnsupportedVersion')) throw newerFormat(error);
    throw error;
  }
  return prepared;
}
