/**
 * What travels through the session bridge: a writer's `WriteRequest`, the
 * leader's `WriteToken` answer, and the WAL event a write becomes (the
 * write's operations together with the (session, SeqNo) and idempotency
 * key that guard them, so that whoever replays the log, a recovered leader
 * or a promoted follower, knows what was applied).
 */
import { isTidalError, reasonOf, TidalError } from '../common/errors.js';
import { assertStorableValue, describeLoneSurrogate, isWellFormedString } from '../common/value.js';
import { isHlcTimestamp } from '../crdt/hlc.js';
import { assertEntityKey, assertName, validateOperation, type CrdtOperation } from '../crdt/operation.js';
import { assertCountStep } from '../crdt/pn-counter.js';
import { CrdtSignalState, STATE_VERSION } from '../crdt/signal-state.js';
import type { ShardId } from '../shard/shard-id.js';
import type { Value } from '../wal/payload.js';
import { assertReplicaId } from '../crdt/replica-id.js';
import { OPS_BLOCK_V3 } from './ops-block-v3.js';
import { decodeOpsBlock, OPS_BLOCK_VERSION } from './write-event-codec.js';

/** A session id: 128 random bits as 32 lower-case hex digits. */
export type SessionId = string;
/** A write's sequence number in its session: 1, 2, 3, ... */
export type SeqNo = number;

const SESSION_ID = /^[0-9a-f]{32}$/;
/** Longest application idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
/** Most operations in one write. */
export const MAX_OPS_PER_WRITE = 10_000;
/**
 * Largest write, in bytes of its operations' exact-form encoding (counted
 * with room for the leader's stamps): 8 MiB, so that every write fits a
 * WAL batch (16 MiB by default) as one event.
 */
export const MAX_WRITE_BYTES = 8 * 1024 * 1024;
/** What the leader's stamp (`hlc`, `replica`) and an operation's own keys add to its encoding, at most. */
const OP_OVERHEAD_BYTES = 128;

/** Where an acknowledged write is: its shard and the LSN of the event that holds it. */
export interface WriteToken {
  /** The shard that acknowledged the write. */
  readonly shard: ShardId;
  /** LSN of the WAL event holding the write; pass the token to a read to see it (read-your-writes). */
  readonly lsn: number;
}

/** An operation as a writer issues it; the leader stamps `hlc` and `replica`. */
export type ClientOperation =
  | {
      /** Adds `by` to (or takes it from) the entity's counter `kind`. */
      readonly op: 'increment' | 'decrement';
      /** The entity the counter belongs to. */
      readonly key: string;
      /** Which of the entity's counters. */
      readonly kind: string;
      /** The step: a positive safe integer. */
      readonly by: number;
    }
  | {
      /** Sets the entity's register `field` to `value` (last writer wins, by HLC). */
      readonly op: 'set';
      /** The entity the register belongs to. */
      readonly key: string;
      /** Which of the entity's registers. */
      readonly field: string;
      /** The new value; read back exactly as written. */
      readonly value: Value;
    }
  | {
      /** Adds `member` to the entity's grow-only set `set`. */
      readonly op: 'add';
      /** The entity the set belongs to. */
      readonly key: string;
      /** Which of the entity's sets. */
      readonly set: string;
      /** The member to add; equal members (by canonical form) are one. */
      readonly member: Value;
    };

/** One write of a session, as sent to the shard's leader (and re-sent, unchanged, until acknowledged). */
export interface WriteRequest {
  /** The writer's session, random per `SessionWriter` (and renewed after it is forgotten). */
  readonly session: SessionId;
  /** When the session started (writer's ms clock); lets a leader refuse late writes of sessions it forgot. */
  readonly startedAt: number;
  /** This write's number in its session; the leader applies each (session, seq) once. */
  readonly seq: SeqNo;
  /** The writer's high-water mark: every SeqNo up to it is acknowledged (so the leader may forget their results). */
  readonly acked: SeqNo;
  /** The operations, applied together or not at all. */
  readonly ops: readonly ClientOperation[];
  /** An application-level key: a retry carrying it (from any session) is not applied twice while the key lives. */
  readonly idempotencyKey?: string;
  /**
   * `ops` as their version-3 operations block (ops-block-v3.ts), encoded
   * once by the writer. On a leader, present only on a request read from a
   * write frame (`decodeWriteFrame`), which decoded `ops` from it and
   * checked the request whole: the leader logs the block as it came.
   */
  readonly block?: Uint8Array;
  /**
   * On a leader: `ops` were decoded from a write frame already in the
   * stamped shape, with this replica id and an HLC slot
   * (`decodeOpsBlockV3Stampable`), and belong to the request alone:
   * `stampWrite` by that replica fills their HLCs in place.
   */
  readonly stampableBy?: string;
}

/** The WAL event of a write. */
export interface WriteEvent {
  /** Marks a session write (an `ImportEvent` has `'import'`). */
  readonly t: 'write';
  /** The session that issued the write. */
  readonly session: SessionId;
  /** When that session started (writer's ms clock), as in its request. */
  readonly startedAt: number;
  /** The write's SeqNo in its session. */
  readonly seq: SeqNo;
  /** The writer's acknowledged high-water mark when it sent the write. */
  readonly acked: SeqNo;
  /** Leader wall-clock ms when it was admitted (drives idle expiry, also after replay). */
  readonly at: number;
  /** The write's application idempotency key, if it had one. */
  readonly key?: string;
  /** The operations as the leader stamped them (HLC, replica). */
  readonly ops: readonly CrdtOperation[];
}

const isCount = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;

/** Checks a session id. */
export function assertSessionId(value: unknown): SessionId {
  if (typeof value !== 'string' || !SESSION_ID.test(value)) {
    throw new TidalError('InvalidArgument', `session id must be 32 lower-case hex digits, got ${JSON.stringify(value)}`);
  }
  return value;
}

const CLIENT_OP_FIELDS: Record<ClientOperation['op'], readonly string[]> = {
  increment: ['op', 'key', 'kind', 'by'],
  decrement: ['op', 'key', 'kind', 'by'],
  set: ['op', 'key', 'field', 'value'],
  add: ['op', 'key', 'set', 'member'],
};

/**
 * Checks a write a writer issues, before it is numbered or sent: its
 * operations (`validateClientOperation`), their count and size
 * (`InvalidArgument`, `PayloadTooLarge`) and its idempotency key.
 */
export function validateClientWrite(ops: unknown, idempotencyKey?: unknown): asserts ops is readonly ClientOperation[] {
  clientWriteBytes(ops, idempotencyKey);
}

/** `validateClientWrite`, returning a bound on the bytes the write's operations take (what its operations' checks say). */
export function clientWriteBytes(ops: unknown, idempotencyKey?: unknown): number {
  if (!Array.isArray(ops) || ops.length > MAX_OPS_PER_WRITE) {
    throw new TidalError('InvalidArgument', `ops must be an array of at most ${MAX_OPS_PER_WRITE} operations`);
  }
  let bytes = 0;
  for (let i = 0; i < ops.length; i++) bytes += validateClientOperation(ops[i], `ops[${i}]`);
  if (bytes > MAX_WRITE_BYTES) {
    throw new TidalError(
      'PayloadTooLarge',
      `a write of ${ops.length} operations encodes to about ${bytes} bytes, over ${MAX_WRITE_BYTES}; split it`,
      {
        details: { size: bytes, max: MAX_WRITE_BYTES },
      },
    );
  }
  if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey);
  return bytes;
}

/**
 * Checks an operation a writer issues (before the leader stamps it); returns
 * a bound on the bytes it takes in its write event.
 */
export function validateClientOperation(op: unknown, what = 'operation'): number {
  if (typeof op !== 'object' || op === null) throw new TidalError('InvalidArgument', `${what} must be an object`);
  const o = op as Record<string, unknown>;
  if ('hlc' in o || 'replica' in o)
    throw new TidalError('InvalidArgument', `${what}: hlc and replica are stamped by the leader, not the writer`);
  // The stamped form is what the CRDT validates; a placeholder stamp checks everything else.
  validateOperation({ ...o, hlc: 0n, replica: 'writer' });
  // The leader logs the operation as it is: a field of its own would be logged (or refused) with it.
  const fields = CLIENT_OP_FIELDS[o['op'] as ClientOperation['op']];
  for (const name of Object.keys(o)) {
    if (!fields.includes(name))
      throw new TidalError('InvalidArgument', `${what} has a field ${JSON.stringify(name)} that a ${String(o['op'])} does not take`);
  }
  // Strings take at most 3 bytes of UTF-8 per UTF-16 unit.
  const names = 3 * ((o['key'] as string).length + ((o['kind'] ?? o['field'] ?? o['set']) as string).length);
  if (o['op'] !== 'set' && o['op'] !== 'add') return OP_OVERHEAD_BYTES + names;
  // A value the state cannot hold (a function, a cycle, undefined in an array, a lone surrogate,
  // more than MAX_VALUE_BYTES...) is refused here, before it is numbered or sent anywhere.
  const part = o['op'] === 'set' ? 'value' : 'member';
  try {
    return OP_OVERHEAD_BYTES + names + assertStorableValue(o[part], part);
  } catch (error) {
    if (isTidalError(error)) throw new TidalError(error.code, `${what}.${reasonOf(error)}`, { cause: error });
    throw error;
  }
}

/**
 * `validateClientOperation` for an operation the database API built itself
 * from a call's arguments (`{ op, key, kind, by }` and the like: the fields
 * of its kind and no others, no stamps), without the general check's copy
 * of the operation and its pass over the fields: the same refusals with the
 * same codes, the same bound. About a tenth of the main thread's time per
 * write went to the general check.
 */
export function validateBuiltOperation(op: ClientOperation, what = 'operation'): number {
  if (op.op === 'set') return validateValueArgs('set', op.key, op.field, op.value, what);
  if (op.op === 'add') return validateValueArgs('add', op.key, op.set, op.member, what);
  return validateCounterArgs(op.key, op.kind, op.by);
}

/** `validateBuiltOperation` of a counter step given as arguments (no operation object): its bound. */
export function validateCounterArgs(key: string, kind: string, by: number): number {
  assertEntityKey(key);
  assertName(kind, 'kind');
  assertCountStep(by);
  return OP_OVERHEAD_BYTES + 3 * (key.length + kind.length);
}

/** `validateBuiltOperation` of a `set` (of `name` to `value`) or an `add` (of `value` to set `name`) given as arguments: its bound. */
export function validateValueArgs(op: 'set' | 'add', key: string, name: string, value: unknown, what = 'operation'): number {
  assertEntityKey(key);
  assertName(name, op === 'set' ? 'field' : 'set');
  const names = 3 * (key.length + name.length);
  // A short well-formed string: its encoded size is bounded without encoding it.
  if (typeof value === 'string' && value.length < 4096 && isWellFormedString(value))
    return OP_OVERHEAD_BYTES + names + 3 * value.length + 8;
  const part = op === 'set' ? 'value' : 'member';
  try {
    return OP_OVERHEAD_BYTES + names + assertStorableValue(value, part);
  } catch (error) {
    if (isTidalError(error)) throw new TidalError(error.code, `${what}.${reasonOf(error)}`, { cause: error });
    throw error;
  }
}

/** Checks an application idempotency key: 1..256 UTF-16 units, well-formed (`InvalidArgument`, `Unencodable`). */
export function assertIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new TidalError('InvalidArgument', `idempotencyKey must be a string of 1..${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  if (!isWellFormedString(key)) throw new TidalError('Unencodable', `idempotencyKey holds ${describeLoneSurrogate(key)}`);
  return key;
}

/** Checks everything a leader needs of a request before it touches any state. Throws `InvalidArgument`. */
export function validateWriteRequest(request: unknown): asserts request is WriteRequest {
  if (typeof request !== 'object' || request === null) throw new TidalError('InvalidArgument', 'a write request must be an object');
  const r = request as Record<string, unknown>;
  assertSessionId(r['session']);
  if (!isCount(r['startedAt'], 0)) throw new TidalError('InvalidArgument', 'startedAt must be a non-negative integer (ms)');
  if (!isCount(r['seq'], 1)) throw new TidalError('InvalidArgument', `seq must be a positive integer, got ${String(r['seq'])}`);
  if (!isCount(r['acked'], 0) || (r['acked'] as number) >= (r['seq'] as number)) {
    throw new TidalError('InvalidArgument', `acked (${String(r['acked'])}) must be a non-negative integer below seq (${String(r['seq'])})`);
  }
  validateClientWrite(r['ops'], r['idempotencyKey']);
}

/**
 * The WAL event of operations merged from another device of the user
 * (docs/SYNC.md §7): its operations with their original stamps, and how far
 * that device's log of this shard is merged once it is applied (`upTo`, an
 * LSN of that device's log). Appended in a batch of its own, so that the
 * operations and the cursor land together or not at all.
 */
export interface ImportEvent {
  /** Marks operations merged from another device. */
  readonly t: 'import';
  /** The device the operations come from (32 hex digits). */
  readonly device: string;
  /** The LSN of the other device's log up to which it is merged once this event applies. */
  readonly upTo: number;
  /** Wall-clock ms when it was merged. */
  readonly at: number;
  /** The merged operations, with their original stamps. */
  readonly ops: readonly CrdtOperation[];
}

/**
 * The WAL event of another device's snapshot state merged here whole
 * (docs/SYNC.md §9, docs/FORMAT.md "Log events"): the state as the snapshot
 * held its bytes (`CrdtSignalState.encode()`), merged into the shard's state
 * (`CrdtSignalState.merge`: counters per replica the larger total, registers
 * the greater stamp, sets the union), and how far that device's log is merged
 * once it is applied. Logged as `{ t: 'import-state', device, upTo, at, state }`
 * with `state` the bytes, which are the snapshot's own: nothing is encoded
 * again; read back (`asLogEvent`) with the state decoded. A build that does
 * not know it refuses its kind as a newer format (`UnsupportedVersion`).
 */
export interface StateImportEvent {
  /** Marks a state merged from another device's snapshot. */
  readonly t: typeof STATE_IMPORT;
  /** The device whose snapshot it is (32 hex digits). */
  readonly device: string;
  /** The LSN of that device's log up to which it is merged once this event applies (the snapshot's). */
  readonly upTo: number;
  /** Wall-clock ms when it was merged. */
  readonly at: number;
  /** The merged state, decoded; applying the event hands its entities to the shard's state (use it once). */
  readonly state: CrdtSignalState;
}

/** The kind (`t`) of a `StateImportEvent`. */
export const STATE_IMPORT = 'import-state';

/** A shard log's event: a write of a session here, or operations or a snapshot's state merged from another device. */
export type LogEvent = WriteEvent | ImportEvent | StateImportEvent;

/** A `StateImportEvent` as the WAL holds it: the state as its bytes (`CrdtSignalState.encode()`), not copied here. */
export function loggedStateImport(device: string, upTo: number, at: number, state: Uint8Array): Value {
  return { t: STATE_IMPORT, device, upTo, at, state };
}

const DEVICE_ID = /^[0-9a-f]{32}$/;

/**
 * Checks what an import event says of the device it merges before the event is appended
 * (`InvalidArgument`): a device id of 32 lower-case hex digits, and a cursor `upTo` >= 1.
 */
export function assertImportOrigin(device: unknown, upTo: unknown): void {
  if (typeof device !== 'string' || !DEVICE_ID.test(device))
    throw new TidalError('InvalidArgument', `a merged device's id must be 32 lower-case hex digits, got ${String(device).slice(0, 40)}`);
  if (!isCount(upTo, 1))
    throw new TidalError('InvalidArgument', `a merged device's cursor must be a positive integer, got ${String(upTo)}`);
}

/** Reads a WAL event back as a `WriteEvent` or an `ImportEvent`: `UnsupportedVersion` for a newer format (`assertLogEventVersion`, checked first), `MalformedPayload` for anything else. */
export function asLogEvent(event: Value): LogEvent {
  assertLogEventVersion(event); // the version first: a newer format may have changed any other field
  const e = event as Record<string, Value> | null;
  if (typeof e === 'object' && e !== null && !Array.isArray(e) && !(e instanceof Uint8Array) && e['t'] === STATE_IMPORT)
    return asStateImport(e);
  if (typeof e === 'object' && e !== null && !Array.isArray(e) && !(e instanceof Uint8Array) && e['t'] === 'import') {
    try {
      if (typeof e['device'] !== 'string' || !DEVICE_ID.test(e['device']))
        throw new TidalError('MalformedPayload', 'device must be 32 hex digits');
      if (!isCount(e['upTo'], 1) || !isCount(e['at'], 0) || !Array.isArray(e['ops'])) {
        throw new TidalError('MalformedPayload', 'import event fields out of range');
      }
      for (const op of e['ops']) validateOperation(op);
      return e as unknown as ImportEvent;
    } catch (error) {
      throw new TidalError(
        'MalformedPayload',
        `WAL event is not a valid import: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  return asWriteEvent(event);
}

/** Where an encoded state's version lies: after its 4-byte magic (docs/CRDT.md, "State"). */
const STATE_VERSION_BYTE = 4;

/** `UnsupportedVersion` for a state encoding this build does not read (it reads 1 and `STATE_VERSION`, as `CrdtSignalState.decode`). */
function assertStateVersion(version: number): void {
  if (version !== STATE_VERSION && version !== 1)
    throw new TidalError('UnsupportedVersion', `state import of a state of version ${version}; this build reads 1 and ${STATE_VERSION}`);
}

/** `asLogEvent` of a state import: its fields checked and its state decoded (`MalformedPayload`, or `UnsupportedVersion` for a newer state format). */
function asStateImport(e: Record<string, Value>): StateImportEvent {
  try {
    if (typeof e['device'] !== 'string' || !DEVICE_ID.test(e['device']))
      throw new TidalError('MalformedPayload', 'device must be 32 hex digits');
    if (!isCount(e['upTo'], 1) || !isCount(e['at'], 0) || !(e['state'] instanceof Uint8Array))
      throw new TidalError('MalformedPayload', 'state import event fields out of range');
    const state = CrdtSignalState.decode(e['state']);
    return { t: STATE_IMPORT, device: e['device'], upTo: e['upTo'] as number, at: e['at'] as number, state };
  } catch (error) {
    if (isTidalError(error, 'UnsupportedVersion')) throw error;
    throw new TidalError(
      'MalformedPayload',
      `WAL event is not a valid state import: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * Throws `UnsupportedVersion` when log event `event` is of a format this
 * build does not read: a kind of event other than a write or an import, a
 * write event version other than 1 (no `v`) and 2, or an operations block
 * other than versions 2 and 3. It reads a field or two and a byte, nothing
 * more: `asLogEvent` checks the rest when the event is applied. A follower
 * runs it on a verified payload before it keeps any of it (`ShardState.checkVersion`).
 */
export function assertLogEventVersion(event: Value): void {
  const e = event as Record<string, Value> | null;
  if (typeof e !== 'object' || e === null || Array.isArray(e) || e instanceof Uint8Array) return; // not an event at all: malformed, at apply
  const kind = e['t'];
  if (kind === 'import') return;
  if (kind === STATE_IMPORT) {
    const state = e['state'];
    if (state instanceof Uint8Array && state.length > STATE_VERSION_BYTE) assertStateVersion(state[STATE_VERSION_BYTE]!);
    return;
  }
  if (kind !== 'write')
    throw new TidalError(
      'UnsupportedVersion',
      `log event of kind ${JSON.stringify(kind)}; this build reads write, import and ${STATE_IMPORT} events`,
    );
  const version = e['v'];
  if (version === undefined) return;
  if (version !== 2) throw new TidalError('UnsupportedVersion', `write event version ${String(version)}; this build reads 1 and 2`);
  const ops = e['ops'];
  if (ops instanceof Uint8Array && ops.length > 0 && ops[0] !== OPS_BLOCK_VERSION && ops[0] !== OPS_BLOCK_V3)
    throw new TidalError(
      'UnsupportedVersion',
      `write operations block version ${ops[0]}; this build reads ${OPS_BLOCK_VERSION} and ${OPS_BLOCK_V3}`,
    );
}

/** Reads a WAL event back as a `WriteEvent`, refusing anything else with `MalformedPayload`. */
export function asWriteEvent(event: Value): WriteEvent {
  const e = event as Record<string, Value> | null;
  try {
    if (typeof e !== 'object' || e === null || Array.isArray(e) || e instanceof Uint8Array || e['t'] !== 'write') {
      throw new TidalError('MalformedPayload', 'not a write event');
    }
    assertSessionId(e['session']);
    const compact = e['v'] === 2; // write-event-codec.ts: the operations as one block
    if (e['v'] !== undefined && !compact)
      throw new TidalError('UnsupportedVersion', `write event version ${String(e['v'])}; this build reads 1 and 2`);
    if (
      !isCount(e['startedAt'], 0) ||
      !isCount(e['seq'], 1) ||
      !isCount(e['acked'], 0) ||
      !isCount(e['at'], 0) ||
      !(compact ? e['ops'] instanceof Uint8Array : Array.isArray(e['ops']))
    ) {
      throw new TidalError('MalformedPayload', 'write event fields out of range');
    }
    if (e['key'] !== undefined && typeof e['key'] !== 'string')
      throw new TidalError('MalformedPayload', 'write event key must be a string');
    if (!compact) {
      for (const op of e['ops'] as Value[]) validateOperation(op);
      return e as unknown as WriteEvent;
    }
    if (typeof e['replica'] !== 'string' || !isHlcTimestamp(e['hlc']))
      throw new TidalError('MalformedPayload', 'write event replica or hlc missing');
    const ops = compactWriteOps(e['ops'] as Uint8Array, e['replica'], e['hlc']);
    return {
      t: 'write',
      session: e['session'] as SessionId,
      startedAt: e['startedAt'] as number,
      seq: e['seq'] as number,
      acked: e['acked'] as number,
      at: e['at'] as number,
      ...(e['key'] !== undefined ? { key: e['key'] as string } : {}),
      ops,
    };
  } catch (error) {
    if (isTidalError(error, 'UnsupportedVersion')) throw error;
    throw new TidalError('MalformedPayload', `WAL event is not a valid write: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * The operations of a version-2 write event's `block`, stamped `replica`
 * and from `hlc`, each checked (what `asWriteEvent` does with the block;
 * log-event-read.ts reads the same way). Throws what the block's decoder
 * or the checks throw, not yet wrapped.
 */
export function compactWriteOps(block: Uint8Array, replica: string, hlc: bigint): CrdtOperation[] {
  const ops = decodeOpsBlock(block, replica, hlc);
  if (block[0] === OPS_BLOCK_V3)
    assertReplicaId(replica); // the v3 decoder checked every operation but their shared stamp
  else for (const op of ops) validateOperation(op);
  return ops;
}
