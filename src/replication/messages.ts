/**
 * The replication layer's control messages, carried on a transport's
 * control lane (docs/FORMAT.md §7): a follower's acknowledgement and its
 * requests to (re)send from an LSN, and the leader's status heartbeat.
 *
 * Every message starts with a version byte and a type byte; the rest is
 * LEB128. Decoding consumes every byte or refuses the message: peers are
 * untrusted, so a message that does not decode exactly is counted and
 * dropped by the caller, never acted on.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { isTidalError, TidalError } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import { MAX_LSN } from '../wal/format.js';

export const CONTROL_VERSION = 1;

/** Why a follower asks for LSNs again. */
export type RequestReason = 'hello' | 'rejected' | 'gap' | 'stalled';
const REASONS: readonly RequestReason[] = ['hello', 'rejected', 'gap', 'stalled'];

/** Follower → leader: every LSN up to `appliedLsn` is applied (and in the follower's own WAL). */
export interface AckMessage {
  readonly type: 'ack';
  readonly shard: ShardId;
  readonly appliedLsn: number;
}

/** Follower → leader: send again from `fromLsn` (a rejected payload, a gap, a stall, or a (re)start). */
export interface RequestMessage {
  readonly type: 'request';
  readonly shard: ShardId;
  readonly fromLsn: number;
  readonly reason: RequestReason;
}

/** Leader → follower: the leader's log reaches `lastLsn` (a heartbeat; lets a follower see it is behind). */
export interface StatusMessage {
  readonly type: 'status';
  readonly shard: ShardId;
  readonly lastLsn: number;
}

export type ControlMessageBody = AckMessage | RequestMessage | StatusMessage;

const TYPE_CODES = { ack: 1, request: 2, status: 3 } as const;

/** Encodes a control message. */
export function encodeControl(message: ControlMessageBody): Uint8Array {
  const enc = new Encoder(24);
  enc.writeU8(CONTROL_VERSION);
  enc.writeU8(TYPE_CODES[message.type]);
  enc.writeU16(message.shard);
  switch (message.type) {
    case 'ack':
      enc.writeVarUint(message.appliedLsn);
      break;
    case 'request':
      enc.writeVarUint(message.fromLsn);
      enc.writeU8(REASONS.indexOf(message.reason));
      break;
    case 'status':
      enc.writeVarUint(message.lastLsn);
      break;
  }
  return enc.toBytes();
}

/** Decodes a control message, refusing anything but an exact, well-formed one with `MalformedMessage`. */
export function decodeControl(bytes: Uint8Array): ControlMessageBody {
  try {
    const dec = new Decoder(bytes);
    const version = dec.readU8();
    if (version !== CONTROL_VERSION) {
      throw new TidalError('UnsupportedVersion', `control message version ${version}; this build speaks ${CONTROL_VERSION}`);
    }
    const type = dec.readU8();
    const shard = dec.readU16();
    const lsn = (what: string, min: number) => {
      const value = dec.readVarUint();
      if (value < min || value > MAX_LSN) throw new TidalError('LengthOutOfBounds', `${what} ${value} is out of range`);
      return value;
    };
    let message: ControlMessageBody;
    switch (type) {
      case TYPE_CODES.ack:
        message = { type: 'ack', shard, appliedLsn: lsn('acknowledged LSN', 0) };
        break;
      case TYPE_CODES.request: {
        const fromLsn = lsn('requested LSN', 1);
        const reason = REASONS[dec.readU8()];
        if (!reason) throw new TidalError('MalformedMessage', 'unknown request reason');
        message = { type: 'request', shard, fromLsn, reason };
        break;
      }
      case TYPE_CODES.status:
        message = { type: 'status', shard, lastLsn: lsn('status LSN', 0) };
        break;
      default:
        throw new TidalError('MalformedMessage', `unknown control message type ${type}`);
    }
    if (dec.remaining !== 0) throw new TidalError('MalformedMessage', `${dec.remaining} trailing bytes after a ${message.type} message`);
    return message;
  } catch (error) {
    if (isTidalError(error, 'MalformedMessage')) throw error;
    throw new TidalError('MalformedMessage', `control message refused: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}
