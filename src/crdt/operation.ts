/**
 * The operations a `CrdtSignalState` applies: plain values, the same ones
 * the WAL carries, one discriminated union on `op`.
 *
 *     state.apply({ op: 'increment', key: 'item-1', kind: 'click', by: 1, replica: 'tab-a' });
 *     state.apply({ op: 'set', key: 'item-1', field: 'label', value: 'cats', hlc: clock.now(), replica: 'tab-a' });
 *     state.apply({ op: 'add', key: 'user', set: 'hardNegatives', member: 'item-9', replica: 'tab-a' });
 *
 * `validateOperation` checks everything except the value's encodability
 * (the state checks that when it encodes the value, before changing
 * anything) and throws `InvalidArgument` saying which field is wrong
 * (`Unencodable` for a key or name holding a lone surrogate).
 */
import { TidalError } from '../common/errors.js';
import { assertHlcTimestamp, type HlcTimestamp } from './hlc.js';
import { assertReplicaId, type ReplicaId } from './replica-id.js';
import { assertCountStep } from './pn-counter.js';
import { describeLoneSurrogate, isWellFormedString, type CrdtValue } from '../common/value.js';

/** Longest entity key, in UTF-16 code units. */
export const MAX_ENTITY_KEY_LENGTH = 1024;
/** Longest counter kind, field name or set name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256;

/** Adds `by` to (`increment`) or subtracts it from (`decrement`) the counter `kind` of entity `key`, on behalf of `replica`. */
export interface CounterOperation {
  /** `increment` adds `by`, `decrement` subtracts it. */
  readonly op: 'increment' | 'decrement';
  /** The entity. */
  readonly key: string;
  /** Which of the entity's counters (e.g. `'click'`). */
  readonly kind: string;
  /** A positive safe integer. */
  readonly by: number;
  /** The replica that issued the operation (its totals are the ones that grow). */
  readonly replica: ReplicaId;
  /** The operation's HLC, if stamped; counters do not need it, but a stamped one is validated and observed by the state's clock. */
  readonly hlc?: HlcTimestamp;
}

/** Writes `value` to field `field` of entity `key` if (`hlc`, `replica`) beats the field's current stamp. */
export interface SetFieldOperation {
  /** Marks a register write. */
  readonly op: 'set';
  /** The entity. */
  readonly key: string;
  /** Which of the entity's registers (e.g. `'title'`). */
  readonly field: string;
  /** The value to write; kept exactly (`-0`, NaN, bigints, bytes, key order). */
  readonly value: CrdtValue;
  /** The write's HLC: the later stamp wins the field. */
  readonly hlc: HlcTimestamp;
  /** The replica that issued it; breaks a tie between equal HLCs. */
  readonly replica: ReplicaId;
}

/** Adds `member` to the grow-only set `set` of entity `key`. */
export interface AddMemberOperation {
  /** Marks a set insertion. */
  readonly op: 'add';
  /** The entity. */
  readonly key: string;
  /** Which of the entity's sets (e.g. `'tags'`). */
  readonly set: string;
  /** The member to add; members equal in canonical form are one member. */
  readonly member: CrdtValue;
  /** The replica that issued the operation. */
  readonly replica: ReplicaId;
  /** Optional, as for counters. */
  readonly hlc?: HlcTimestamp;
}

/** An operation `CrdtSignalState.apply` accepts. */
export type CrdtOperation = CounterOperation | SetFieldOperation | AddMemberOperation;

/** Returns `key` if it is a valid entity key (1..1024 UTF-16 units), else throws `InvalidArgument` (or `Unencodable` for a lone surrogate, which has no UTF-8 form). */
export function assertEntityKey(key: unknown, what = 'key'): string {
  return assertText(key, MAX_ENTITY_KEY_LENGTH, what);
}

/** Returns `name` if it is a valid counter kind, field or set name (1..256 UTF-16 units), else throws `InvalidArgument` (or `Unencodable` for a lone surrogate). */
export function assertName(name: unknown, what: string): string {
  return assertText(name, MAX_NAME_LENGTH, what);
}

function assertText(text: unknown, max: number, what: string): string {
  if (typeof text !== 'string') throw new TidalError('InvalidArgument', `${what} must be a string, got ${typeof text}`);
  if (text.length === 0 || text.length > max) {
    throw new TidalError('InvalidArgument', `${what} must be 1..${max} characters long, got ${text.length}`);
  }
  if (!isWellFormedString(text)) throw new TidalError('Unencodable', `${what} holds ${describeLoneSurrogate(text)}`);
  return text;
}

/** Throws `InvalidArgument`, naming the field, unless `op` is a well-formed `CrdtOperation`. */
export function validateOperation(op: unknown): asserts op is CrdtOperation {
  if (typeof op !== 'object' || op === null) {
    throw new TidalError('InvalidArgument', `an operation must be an object, got ${op === null ? 'null' : typeof op}`);
  }
  const o = op as Record<string, unknown>;
  switch (o['op']) {
    case 'increment':
    case 'decrement':
      assertEntityKey(o['key']);
      assertName(o['kind'], 'kind');
      assertCountStep(o['by']);
      assertReplicaId(o['replica']);
      if (o['hlc'] !== undefined) assertHlcTimestamp(o['hlc']);
      return;
    case 'set':
      assertEntityKey(o['key']);
      assertName(o['field'], 'field');
      if (!('value' in o)) throw new TidalError('InvalidArgument', 'a set operation needs a value');
      assertHlcTimestamp(o['hlc']);
      assertReplicaId(o['replica']);
      return;
    case 'add':
      assertEntityKey(o['key']);
      assertName(o['set'], 'set');
      if (!('member' in o)) throw new TidalError('InvalidArgument', 'an add operation needs a member');
      assertReplicaId(o['replica']);
      if (o['hlc'] !== undefined) assertHlcTimestamp(o['hlc']);
      return;
    default:
      throw new TidalError(
        'InvalidArgument',
        `unknown operation ${JSON.stringify(String(o['op']))}; expected increment, decrement, set or add`,
      );
  }
}
