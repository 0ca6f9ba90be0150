/**
 * The wire format of reconciliation (docs/CRDT.md, "Reconciliation
 * messages"), apart from the engine's logic: one discriminated union of
 * messages, `encodeReconcileMessage` and `decodeReconcileMessage`, and the
 * size helpers the engine uses to fill a message up to its bound.
 *
 * Every message starts with the magic `TDRC`, a version byte, a type byte
 * and the u32 session id; the rest is LEB128 counts and lengths, u16 masks
 * and 8-byte digests. The decoder checks every count against the bytes
 * left and refuses trailing bytes; anything wrong is `MalformedMessage`
 * (`UnsupportedVersion` for a newer version). Entity records travel as
 * opaque length-prefixed bytes here; `decodeEntityRecords` checks them.
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { MAX_TREE_DEPTH, TREE_FANOUT, prefixesAt } from './digest-index.js';
import { readEntityRecord, type DecodedEntity } from './signal-entity.js';
import { readCount } from '../common/value.js';

/** Magic of every reconciliation message: `TDRC`. */
export const RECONCILE_MAGIC = new Uint8Array([0x54, 0x44, 0x52, 0x43]);
/** Version of the message format this build writes and reads. */
export const RECONCILE_VERSION = 2;
/** Smallest message bound a peer may declare (a probe of one node must always fit). */
export const MIN_MESSAGE_BYTES = 4096;
/** Upper bound on the fixed part of any message (magic, version, type, session, round, bound, counts). */
export const MESSAGE_HEADER_BOUND = 64;

/** Message type byte. */
export const MessageType = { Probe: 1, Reply: 2, Finish: 3, Refused: 4 } as const;

/** Why a responder refused a round. */
export const RefusalReason = {
  /** The responder does not hold the session (expired, evicted, or never started). */
  UnknownSession: 1,
  /** The pushed entities hold an HLC too far ahead of the responder's clock. */
  ClockDrift: 2,
  /** One item of the answer would not fit in a message. */
  PayloadTooLarge: 3,
} as const;

/** A `RefusalReason` value. */
export type RefusalReasonCode = (typeof RefusalReason)[keyof typeof RefusalReason];

/** The initiator's digests of the children of one node it asks the responder to compare. */
export interface ProbeNode {
  /** Depth of the node whose children are listed, 0..MAX_TREE_DEPTH-1. */
  readonly depth: number;
  /** The node's position prefix, 0..16^depth-1. */
  readonly prefix: number;
  /** Bit c set when the initiator has entities under child c. */
  readonly mask: number;
  /** (lo, hi) u32 pairs, one per set bit of `mask`, in bit order. */
  readonly digests: Uint32Array;
}

/** An entity the initiator sends, with the responder's digest it believes is the same key's other version. */
export interface EntityPush {
  /** The responder's (lo, hi) digest of its version of this key, when the initiator saw one at the leaf. */
  readonly counterpart: readonly [number, number] | undefined;
  /** The entity record (docs/CRDT.md, "Entity record"). */
  readonly record: Uint8Array;
}

/** Initiator → responder: one round. */
export interface ProbeMessage {
  readonly type: 'probe';
  readonly session: number;
  /** 0 for the first round, then +1 per round. */
  readonly round: number;
  /** The initiator's message bound; replies must fit min(this, the responder's own). */
  readonly maxMessageBytes: number;
  readonly probes: readonly ProbeNode[];
  /** (lo, hi) digests of responder entities the initiator wants, as listed in earlier replies. */
  readonly requests: Uint32Array;
  readonly pushes: readonly EntityPush[];
}

/** The responder's verdict on the 16 children of one probed node. */
export interface ProbeResult {
  /** Children that differ and are large: the initiator probes them next. */
  readonly expandMask: number;
  /** Children that differ and are small (or the initiator has nothing there, or are at the deepest level): resolved key by key. */
  readonly leafMask: number;
  /** Leaf children the initiator also has entities under: the responder lists its entries for each, in bit order. */
  readonly listMask: number;
  readonly listings: readonly LeafListing[];
}

/** The responder's entries under one leaf: tags (low 32 bits of positions) and digests. */
export interface LeafListing {
  readonly tags: Uint32Array;
  /** (lo, hi) pairs, one per tag. */
  readonly digests: Uint32Array;
}

/** Responder → initiator: the answer to one round. */
export interface ReplyMessage {
  readonly type: 'reply';
  readonly session: number;
  readonly round: number;
  /** The responder's own message bound. */
  readonly maxMessageBytes: number;
  /** One result per probe, in order; fewer than probed means the rest were not handled (resend them). */
  readonly results: readonly ProbeResult[];
  /** Entity records the responder sends. */
  readonly records: readonly Uint8Array[];
  /** Entities the responder still has queued for the initiator. */
  readonly pending: number;
  /** Entities dropped in this round because their record cannot fit in any message. */
  readonly skipped: number;
}

/** Initiator → responder: the session is over (best effort; sessions also expire). */
export interface FinishMessage {
  readonly type: 'finish';
  readonly session: number;
}

/** Responder → initiator: the round cannot be answered. */
export interface RefusedMessage {
  readonly type: 'refused';
  readonly session: number;
  readonly round: number;
  readonly reason: RefusalReasonCode;
}

/** Every reconciliation message. */
export type ReconcileMessage = ProbeMessage | ReplyMessage | FinishMessage | RefusedMessage;

/** Bytes of `n` as a LEB128 VarUint. */
export function varUintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Number of set bits in a 16-bit mask. */
export function popcount16(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}

/** Encoded size of a probe node. */
export function probeNodeSize(prefix: number, mask: number): number {
  return 1 + varUintSize(prefix) + 2 + 8 * popcount16(mask);
}

/** Encoded size of a push of a record of `recordLength` bytes. */
export function pushSize(recordLength: number, hasCounterpart: boolean): number {
  return 1 + (hasCounterpart ? 8 : 0) + varUintSize(recordLength) + recordLength;
}

/** Encoded size of a reply record of `recordLength` bytes. */
export function recordSize(recordLength: number): number {
  return varUintSize(recordLength) + recordLength;
}

/** Encoded size of a probe result with listings of these lengths. */
export function probeResultSize(listingLengths: readonly number[]): number {
  let size = 6;
  for (const n of listingLengths) size += varUintSize(n) + 12 * n;
  return size;
}

function writeHeader(enc: Encoder, type: number, session: number): void {
  enc.writeRaw(RECONCILE_MAGIC);
  enc.writeU8(RECONCILE_VERSION);
  enc.writeU8(type);
  enc.writeU32(session);
}

/** Encodes one message into a fresh buffer of exactly its size. */
export function encodeReconcileMessage(message: ReconcileMessage): Uint8Array {
  const enc = new Encoder(256);
  switch (message.type) {
    case 'probe':
      writeHeader(enc, MessageType.Probe, message.session);
      enc.writeVarUint(message.round);
      enc.writeVarUint(message.maxMessageBytes);
      enc.writeVarUint(message.probes.length);
      for (const p of message.probes) {
        enc.writeU8(p.depth);
        enc.writeVarUint(p.prefix);
        enc.writeU16(p.mask);
        for (let i = 0; i < p.digests.length; i++) enc.writeU32(p.digests[i]!);
      }
      enc.writeVarUint(message.requests.length / 2);
      for (let i = 0; i < message.requests.length; i++) enc.writeU32(message.requests[i]!);
      enc.writeVarUint(message.pushes.length);
      for (const push of message.pushes) {
        if (push.counterpart) {
          enc.writeU8(1);
          enc.writeU32(push.counterpart[0]);
          enc.writeU32(push.counterpart[1]);
        } else {
          enc.writeU8(0);
        }
        enc.writeBytes(push.record);
      }
      break;
    case 'reply':
      writeHeader(enc, MessageType.Reply, message.session);
      enc.writeVarUint(message.round);
      enc.writeVarUint(message.maxMessageBytes);
      enc.writeVarUint(message.results.length);
      for (const r of message.results) {
        enc.writeU16(r.expandMask);
        enc.writeU16(r.leafMask);
        enc.writeU16(r.listMask);
        for (const listing of r.listings) {
          enc.writeVarUint(listing.tags.length);
          for (let i = 0; i < listing.tags.length; i++) {
            enc.writeU32(listing.tags[i]!);
            enc.writeU32(listing.digests[2 * i]!);
            enc.writeU32(listing.digests[2 * i + 1]!);
          }
        }
      }
      enc.writeVarUint(message.records.length);
      for (const record of message.records) enc.writeBytes(record);
      enc.writeVarUint(message.pending);
      enc.writeVarUint(message.skipped);
      break;
    case 'finish':
      writeHeader(enc, MessageType.Finish, message.session);
      break;
    case 'refused':
      writeHeader(enc, MessageType.Refused, message.session);
      enc.writeVarUint(message.round);
      enc.writeU8(message.reason);
      break;
  }
  return enc.toBytes();
}

function malformed(message: string, cause?: unknown): TidalError {
  return new TidalError('MalformedMessage', `reconciliation message: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Decodes and checks one message (its shape, not its meaning for a
 * session: the engine checks that). Throws `MalformedMessage` for anything
 * wrong, `UnsupportedVersion` for a version this build does not read. Byte
 * strings in the result (entity records) are views into `bytes`.
 */
export function decodeReconcileMessage(bytes: Uint8Array): ReconcileMessage {
  try {
    return decodeUnchecked(bytes);
  } catch (error) {
    if (isTidalError(error, 'MalformedMessage') || isTidalError(error, 'UnsupportedVersion')) throw error;
    throw malformed(error instanceof Error ? error.message : String(error), error);
  }
}

function decodeUnchecked(bytes: Uint8Array): ReconcileMessage {
  const dec = new Decoder(bytes);
  const magic = dec.readRaw(4);
  for (let i = 0; i < 4; i++) if (magic[i] !== RECONCILE_MAGIC[i]) throw malformed('does not start with TDRC');
  const version = dec.readU8();
  if (version !== RECONCILE_VERSION) {
    throw new TidalError(
      'UnsupportedVersion',
      `reconciliation message version ${version}; this build speaks version ${RECONCILE_VERSION}`,
      {
        details: { version },
      },
    );
  }
  const type = dec.readU8();
  const session = dec.readU32();
  let message: ReconcileMessage;
  switch (type) {
    case MessageType.Probe:
      message = readProbe(dec, session);
      break;
    case MessageType.Reply:
      message = readReply(dec, session);
      break;
    case MessageType.Finish:
      message = { type: 'finish', session };
      break;
    case MessageType.Refused: {
      const round = dec.readVarUint();
      const reason = dec.readU8();
      if (reason !== RefusalReason.UnknownSession && reason !== RefusalReason.ClockDrift && reason !== RefusalReason.PayloadTooLarge) {
        throw malformed(`unknown refusal reason ${reason}`);
      }
      message = { type: 'refused', session, round, reason };
      break;
    }
    default:
      throw malformed(`unknown message type ${type}`);
  }
  if (dec.remaining !== 0) throw malformed(`${dec.remaining} trailing bytes`);
  return message;
}

function readMessageBound(dec: Decoder): number {
  const bound = dec.readVarUint();
  if (bound < MIN_MESSAGE_BYTES) throw malformed(`declared message bound ${bound} is below the minimum ${MIN_MESSAGE_BYTES}`);
  return bound;
}

function readProbe(dec: Decoder, session: number): ProbeMessage {
  const round = dec.readVarUint();
  const maxMessageBytes = readMessageBound(dec);
  const probeCount = readCount(dec, 4, 'probe list');
  const probes: ProbeNode[] = [];
  for (let i = 0; i < probeCount; i++) {
    const depth = dec.readU8();
    if (depth >= MAX_TREE_DEPTH) throw malformed(`probe depth ${depth} has no children (deepest is ${MAX_TREE_DEPTH})`);
    const prefix = dec.readVarUint();
    if (prefix >= prefixesAt(depth)) throw malformed(`probe prefix ${prefix} is out of range for depth ${depth}`);
    const mask = dec.readU16();
    const n = popcount16(mask) * 2;
    const digests = new Uint32Array(n);
    for (let j = 0; j < n; j++) digests[j] = dec.readU32();
    probes.push({ depth, prefix, mask, digests });
  }
  const requestCount = readCount(dec, 8, 'request list');
  const requests = new Uint32Array(requestCount * 2);
  for (let i = 0; i < requests.length; i++) requests[i] = dec.readU32();
  const pushCount = readCount(dec, 2, 'push list');
  const pushes: EntityPush[] = [];
  for (let i = 0; i < pushCount; i++) {
    const flags = dec.readU8();
    if (flags > 1) throw malformed(`push flags ${flags} has unknown bits`);
    const counterpart: [number, number] | undefined = flags === 1 ? [dec.readU32(), dec.readU32()] : undefined;
    pushes.push({ counterpart, record: dec.readBytes() });
  }
  return { type: 'probe', session, round, maxMessageBytes, probes, requests, pushes };
}

function readReply(dec: Decoder, session: number): ReplyMessage {
  const round = dec.readVarUint();
  const maxMessageBytes = readMessageBound(dec);
  const resultCount = readCount(dec, 6, 'result list');
  const results: ProbeResult[] = [];
  for (let i = 0; i < resultCount; i++) {
    const expandMask = dec.readU16();
    const leafMask = dec.readU16();
    const listMask = dec.readU16();
    if ((expandMask & leafMask) !== 0) throw malformed('a child is marked both to expand and as a leaf');
    if ((listMask & ~leafMask) !== 0) throw malformed('a listed child is not a leaf');
    const listings: LeafListing[] = [];
    for (let c = 0; c < TREE_FANOUT; c++) {
      if ((listMask & (1 << c)) === 0) continue;
      const n = readCount(dec, 12, 'leaf listing');
      const tags = new Uint32Array(n);
      const digests = new Uint32Array(2 * n);
      for (let j = 0; j < n; j++) {
        tags[j] = dec.readU32();
        digests[2 * j] = dec.readU32();
        digests[2 * j + 1] = dec.readU32();
      }
      listings.push({ tags, digests });
    }
    results.push({ expandMask, leafMask, listMask, listings });
  }
  const recordCount = readCount(dec, 1, 'record list');
  const records: Uint8Array[] = [];
  for (let i = 0; i < recordCount; i++) records.push(dec.readBytes());
  const pending = dec.readVarUint();
  const skipped = dec.readVarUint();
  return { type: 'reply', session, round, maxMessageBytes, results, records, pending, skipped };
}

/**
 * Decodes entity records received from a peer, all of them or none:
 * `MalformedMessage` (with the record's problem as the cause) if any is
 * not a valid, complete entity record.
 */
export function decodeEntityRecords(records: readonly Uint8Array[]): DecodedEntity[] {
  const out: DecodedEntity[] = [];
  for (let i = 0; i < records.length; i++) {
    const dec = new Decoder(records[i]!);
    try {
      out.push(readEntityRecord(dec));
      if (dec.remaining !== 0) throw new TidalError('MalformedPayload', `${dec.remaining} trailing bytes after the entity record`);
    } catch (error) {
      throw malformed(`entity record ${i}: ${error instanceof Error ? error.message : String(error)}`, error);
    }
  }
  return out;
}
