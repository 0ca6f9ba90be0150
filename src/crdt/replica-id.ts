/**
 * Replica ids: who issued an operation. A replica id is a short ASCII
 * string (1..64 characters of `A-Z a-z 0-9 . _ : -`, e.g. a tab's random id
 * or `"device-7:tab-2"`), so that its UTF-16 order, its UTF-8 byte order and
 * its encoded form all agree. Ids order by plain string comparison; that
 * order breaks ties between equal HLCs.
 *
 * Every replica that issues operations needs its own id: a PNCounter keeps
 * one total per replica id, so two live replicas sharing an id would lose
 * each other's increments on merge.
 */
import { TidalError } from '../common/errors.js';

/** Who issued an operation: 1..64 characters of `A-Z a-z 0-9 . _ : -`. */
export type ReplicaId = string;

/** Longest replica id, in characters (= bytes). */
export const MAX_REPLICA_ID_LENGTH = 64;

const REPLICA_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The id last found valid: every operation of a write carries its leader's one id, checked once rather than per operation. */
let lastValid: string | undefined;

/** True when `value` is a valid `ReplicaId`. */
export function isReplicaId(value: unknown): value is ReplicaId {
  if (typeof value !== 'string') return false;
  if (value === lastValid) return true;
  if (!REPLICA_ID.test(value)) return false;
  lastValid = value;
  return true;
}

/** Returns `value` as a `ReplicaId`, or throws `InvalidArgument` naming `what`. */
export function assertReplicaId(value: unknown, what = 'replica id'): ReplicaId {
  if (!isReplicaId(value)) {
    throw new TidalError(
      'InvalidArgument',
      `${what} must be 1..${MAX_REPLICA_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -, got ${describe(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return typeof value === 'bigint' ? `${value}n` : String(value);
}
