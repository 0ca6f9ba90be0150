import { TidalError } from '../common/errors.js';

/**
 * The version of the protocol the tabs of one database speak to each other,
 * carried by every message on the shard's RPC channel (`v`, `tab-rpc.ts`).
 * Every tab announces itself and asks who leads on that channel, so two tabs
 * of different builds on one database meet there first.
 *
 * It is bumped whenever a newer build changes anything an older one would
 * misread: an RPC message, the transport's messages (`transport/1`), the
 * replication control messages, or a file format (segments, batches, event
 * payloads, snapshots). A tab that hears a higher version steps aside
 * (`VersionSkew`: it stops writing and leading, and tells its page); a tab
 * that hears a lower one drops the message, and the older tab steps aside
 * as soon as it hears this one. See docs/ARCHITECTURE.md, "Version skew".
 */
export const PROTOCOL_VERSION = 1;

/** The protocol version a message claims, when it claims one above this build's: `undefined` otherwise. */
export function newerProtocolOf(data: unknown): number | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const v = (data as Record<string, unknown>)['v']; // a structured clone: plain data, no getters
  return Number.isSafeInteger(v) && (v as number) > PROTOCOL_VERSION ? (v as number) : undefined;
}

/** The `VersionSkew` error of a tab of database `db` that met a newer tidal (`what` says where). */
export function skewError(db: string, what: string, details: Record<string, unknown>): TidalError {
  return new TidalError(
    'VersionSkew',
    `${what} newer than this tab's tidal (protocol ${PROTOCOL_VERSION}) on database ${db}: this tab stepped aside, it neither writes nor leads; reload the page to run the newer tidal`,
    { details: { ...details, speaks: PROTOCOL_VERSION } },
  );
}
