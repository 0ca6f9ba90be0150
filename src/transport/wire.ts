/**
 * The messages transports put on a port or channel, and the one function
 * that checks an incoming value before anything else looks at it.
 *
 * Messages are structured-clone objects, not encoded bytes: the segment
 * bytes travel as an `ArrayBuffer` so they can be transferred. Every
 * message names its protocol (`tidal: 'transport/1'`), its kind, its
 * sender and its addressee. A port or channel given to a transport must be
 * dedicated to it: anything else arriving on it is malformed.
 *
 *     { tidal: 'transport/1', kind: 'segment', from, to, shard, seq, eventCount, bytes }
 *     { tidal: 'transport/1', kind: 'control', from, to, bytes }
 *
 * `from`/`to` are `{ shard: u16, replica: string ≤ 64 }`; `shard`/`seq` are
 * the `WalSegmentId` (u16, u64 bigint); `eventCount` is a non-negative safe
 * integer; `bytes` is an `ArrayBuffer` (not shared) within the configured
 * bound. A newer protocol tag (`transport/2` and on) is not damage but a
 * tab of a newer tidal on the channel: it is refused as such
 * (`newerVersion`), for the receiver to report as version skew; any other
 * tag is malformed.
 */
import { WalSegmentId } from '../wal/segment-id.js';
import { isPeerAddress, type PeerAddress } from './address.js';

/** The protocol tag of every transport message. */
export const WIRE_PROTOCOL = 'transport/1';
/** The version `WIRE_PROTOCOL` names. */
export const WIRE_VERSION = 1;
const TAG = /^transport\/([1-9][0-9]{0,8})$/;

/** A segment payload on the wire. */
export interface SegmentWireMessage {
  /** The protocol tag, `'transport/1'`; anything else is dropped as malformed. */
  readonly tidal: typeof WIRE_PROTOCOL;
  /** Marks a segment payload. */
  readonly kind: 'segment';
  /** The sending replica. */
  readonly from: PeerAddress;
  /** The replica the message is for; others drop it. */
  readonly to: PeerAddress;
  /** The segment's shard (the `WalSegmentId.shard`). */
  readonly shard: number;
  /** The segment's sequence number (the `WalSegmentId.seq`). */
  readonly seq: bigint;
  /** How many events the bytes hold, as the sender counts them. */
  readonly eventCount: number;
  /** The WAL bytes, transferred where the carrier can (cloned on a BroadcastChannel). */
  readonly bytes: ArrayBuffer;
}

/** A control message on the wire. */
export interface ControlWireMessage {
  /** The protocol tag, `'transport/1'`; anything else is dropped as malformed. */
  readonly tidal: typeof WIRE_PROTOCOL;
  /** Marks a control message (replication acks, reconciliation rounds). */
  readonly kind: 'control';
  /** The sending replica. */
  readonly from: PeerAddress;
  /** The replica the message is for; others drop it. */
  readonly to: PeerAddress;
  /** The encoded control message; its meaning belongs to the layer that sent it. */
  readonly bytes: ArrayBuffer;
}

/** Every message a transport sends. */
export type WireMessage = SegmentWireMessage | ControlWireMessage;

/** A validated incoming message, with the segment id already built. */
export type ParsedWireMessage =
  | {
      readonly kind: 'segment';
      readonly from: PeerAddress;
      readonly to: PeerAddress;
      readonly id: WalSegmentId;
      readonly eventCount: number;
      readonly bytes: ArrayBuffer;
    }
  | { readonly kind: 'control'; readonly from: PeerAddress; readonly to: PeerAddress; readonly bytes: ArrayBuffer };

/**
 * The outcome of `parseWireMessage`: the message, or why it was refused;
 * `newerVersion` when it is tagged with a newer transport protocol than
 * this build speaks (sent by a newer tidal, not damaged).
 */
export type ParseResult =
  | { readonly ok: true; readonly message: ParsedWireMessage }
  | { readonly ok: false; readonly reason: string; readonly newerVersion?: number };

/** Size bounds applied to incoming messages. */
export interface WireBounds {
  readonly maxSegmentBytes: number;
  readonly maxControlBytes: number;
}

const MAX_U64 = (1n << 64n) - 1n;

/** True for a real, non-shared `ArrayBuffer` (works across realms, unlike `instanceof`). */
export function isArrayBuffer(value: unknown): value is ArrayBuffer {
  return Object.prototype.toString.call(value) === '[object ArrayBuffer]';
}

/**
 * Checks an untrusted incoming value. Never throws: a value with throwing
 * getters or any other surprise comes back as `{ ok: false }`. Each field
 * is read once, so what was checked is what is used.
 */
export function parseWireMessage(raw: unknown, bounds: WireBounds): ParseResult {
  try {
    return parse(raw, bounds);
  } catch (error) {
    return { ok: false, reason: `reading the message threw: ${String(error)}` };
  }
}

function parse(raw: unknown, bounds: WireBounds): ParseResult {
  if (typeof raw !== 'object' || raw === null) return refuse(`expected an object, got ${raw === null ? 'null' : typeof raw}`);
  const m = raw as Record<string, unknown>;
  const tag = m['tidal'];
  if (tag !== WIRE_PROTOCOL) {
    const newer = newerVersionOf(tag);
    if (newer === undefined) return refuse(`protocol tag ${short(tag)} is not '${WIRE_PROTOCOL}'`);
    return { ok: false, reason: `protocol tag '${tag as string}' is newer than '${WIRE_PROTOCOL}'`, newerVersion: newer };
  }
  const kind = m['kind'];
  const from = copyAddress(m['from']);
  if (!from) return refuse('from is not a { shard: 0..65535, replica: string (≤ 64) } address');
  const to = copyAddress(m['to']);
  if (!to) return refuse('to is not a { shard: 0..65535, replica: string (≤ 64) } address');
  const bytes = m['bytes'];
  if (!isArrayBuffer(bytes)) return refuse('bytes is not an ArrayBuffer');
  const size = bytes.byteLength;
  if (kind === 'control') {
    if (size > bounds.maxControlBytes) return refuse(`control message of ${size} bytes exceeds the maximum of ${bounds.maxControlBytes}`);
    return { ok: true, message: { kind, from, to, bytes } };
  }
  if (kind !== 'segment') return refuse(`kind ${short(kind)} is neither 'segment' nor 'control'`);
  if (size > bounds.maxSegmentBytes) return refuse(`segment of ${size} bytes exceeds the maximum of ${bounds.maxSegmentBytes}`);
  const shard = m['shard'];
  if (!Number.isInteger(shard) || (shard as number) < 0 || (shard as number) > 0xffff)
    return refuse(`segment shard ${short(shard)} is not a u16`);
  const seq = m['seq'];
  if (typeof seq !== 'bigint' || seq < 0n || seq > MAX_U64) return refuse(`segment seq ${short(seq)} is not a u64 bigint`);
  const eventCount = m['eventCount'];
  if (!Number.isSafeInteger(eventCount) || (eventCount as number) < 0)
    return refuse(`eventCount ${short(eventCount)} is not a non-negative safe integer`);
  const id = new WalSegmentId(shard as number, seq);
  return { ok: true, message: { kind, from, to, id, eventCount: eventCount as number, bytes } };
}

/** The version of a `transport/<n>` tag above this build's, or `undefined`. */
function newerVersionOf(tag: unknown): number | undefined {
  if (typeof tag !== 'string') return undefined;
  const match = TAG.exec(tag);
  const version = match ? Number(match[1]) : 0;
  return version > WIRE_VERSION ? version : undefined;
}

function copyAddress(value: unknown): PeerAddress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { shard, replica } = value as { shard?: unknown; replica?: unknown };
  const copy = { shard, replica };
  return isPeerAddress(copy) ? Object.freeze(copy) : undefined;
}

function refuse(reason: string): ParseResult {
  return { ok: false, reason };
}

/** A bounded rendering of an untrusted value, for messages. */
function short(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}
