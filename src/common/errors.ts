/**
 * Errors are values with codes. Every failure tidal reports is a
 * `TidalError` whose `code` is one of a closed union, so callers (and code
 * on the other side of a worker boundary) branch on the code, never on the
 * message. The message says what was wrong and, where it helps, what to do.
 *
 * Expected outcomes (a torn tail, a duplicate delivery) are results, not
 * errors: see the recovery report and the replication counters.
 */

/** Every code a `TidalError` can carry. */
export type TidalErrorCode =
  /** A caller passed an argument outside what the API accepts. */
  | 'InvalidArgument'
  /** A segment file name is not `<4 hex>-<16 hex>.wal`. */
  | 'InvalidSegmentName'
  /** Bytes that should start with a known magic do not. */
  | 'BadMagic'
  /** A format version this build cannot read (usually: written by a newer tidal). */
  | 'UnsupportedVersion'
  /**
   * A tab running a newer tidal shares this database (its messages or files speak a newer protocol or
   * format than this build): this tab stepped aside, neither writing nor leading. Ask the user to reload.
   */
  | 'VersionSkew'
  /** Flag bits this build does not know. */
  | 'UnsupportedFlags'
  /** A reserved field that must be zero is not. */
  | 'ReservedNotZero'
  /** Bytes end before a structure they claim to hold. */
  | 'Truncated'
  /** A length or count points past the end of its buffer or past a bound. */
  | 'LengthOutOfBounds'
  /** A BLAKE3 digest does not match the bytes it covers. */
  | 'DigestMismatch'
  /** Stored data failed verification; the report or message says where. */
  | 'Corrupt'
  /** Two places that must agree do not (file name vs header, LSN sequence, counts). */
  | 'HeaderMismatch'
  /** A value the value codec cannot represent (function, cycle, undefined in an array, a lone surrogate...). */
  | 'Unencodable'
  /** A counter write that would take a total or the counter's value past ±(2^53 - 1), the safe-integer range. */
  | 'Overflow'
  /** Encoded event bytes that do not decode to a value. */
  | 'MalformedPayload'
  /** A write to a segment that is already sealed. */
  | 'SegmentSealed'
  /** The storage backend failed (missing file, lost handle, unknown state: reopen). */
  | 'StorageError'
  /** Storage is full (the origin's quota is used up): nothing of that batch was acknowledged; writes go on once there is room. */
  | 'StorageFull'
  /** The log no longer holds these LSNs: they were compacted into a snapshot, which is what a replica that needs them gets. */
  | 'Compacted'
  /** The object was closed; open a new one. */
  | 'Closed'
  /** A transport was asked to reach a peer it does not know. */
  | 'UnknownPeer'
  /** A payload larger than the configured maximum. */
  | 'PayloadTooLarge'
  /** A message from a peer that does not have the expected shape. */
  | 'MalformedMessage'
  /** A remote clock too far ahead of ours. */
  | 'ClockDrift'
  /** A bounded wait ran out. */
  | 'Timeout'
  /** A remote resource (a URL, a bucket) could not be reached, or answered with an error status; details say which. */
  | 'Unreachable'
  /** A session's write skips sequence numbers the leader has not seen; resend in order. */
  | 'SeqGap'
  /** A write from a session the leader no longer remembers (idle expiry or capacity); it is not applied. */
  | 'SessionExpired'
  /** A write at or below what its session already acknowledged: applied before, not applied again. */
  | 'StaleWrite'
  /** A request or token for another shard than the one that received it. */
  | 'WrongShard'
  /** A newer uploader (a higher writer epoch) owns this device's manifest: this one must stop uploading. */
  | 'WriterFenced'
  /** An object from the sync store failed authenticated decryption (tampered, another key, or moved). */
  | 'DecryptionFailed'
  /** A sync object's name, device, shard or sequence is not what the manifest that lists it says. */
  | 'ObjectMismatch'
  /** A manifest older than one already seen (the store served a rolled-back version). */
  | 'RolledBack';

/** Every code, so that a code from outside (a peer's answer) can be checked; the type makes it complete. */
const TIDAL_ERROR_CODES: Readonly<Record<TidalErrorCode, true>> = {
  InvalidArgument: true,
  InvalidSegmentName: true,
  BadMagic: true,
  UnsupportedVersion: true,
  VersionSkew: true,
  UnsupportedFlags: true,
  ReservedNotZero: true,
  Truncated: true,
  LengthOutOfBounds: true,
  DigestMismatch: true,
  Corrupt: true,
  HeaderMismatch: true,
  Unencodable: true,
  MalformedPayload: true,
  SegmentSealed: true,
  StorageError: true,
  StorageFull: true,
  Compacted: true,
  Closed: true,
  UnknownPeer: true,
  PayloadTooLarge: true,
  MalformedMessage: true,
  ClockDrift: true,
  Timeout: true,
  Unreachable: true,
  SeqGap: true,
  SessionExpired: true,
  StaleWrite: true,
  WrongShard: true,
  WriterFenced: true,
  DecryptionFailed: true,
  ObjectMismatch: true,
  RolledBack: true,
  Overflow: true,
};

/** True when `value` is one of tidal's error codes. */
export function isTidalErrorCode(value: unknown): value is TidalErrorCode {
  return typeof value === 'string' && Object.hasOwn(TIDAL_ERROR_CODES, value);
}

/** The one error class of tidal. Branch on `code`. */
export class TidalError extends Error {
  /** Always `'TidalError'`: what `String(error)` and stack traces show first. */
  override readonly name = 'TidalError';
  /** What went wrong, from a closed set of codes: branch on this, not on the message. */
  readonly code: TidalErrorCode;
  /** Structured facts about the failure (a shard, a size, an offset...). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  /** An error with `code`; the message is prefixed with the code (`'Corrupt: ...'`); `cause` and `details` are optional. */
  constructor(code: TidalErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** `error`'s message without the code its constructor put in front: what a new `TidalError` of the same code would be given. */
export function reasonOf(error: TidalError): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

/** True when `error` is a `TidalError`, optionally with the given code. */
export function isTidalError(error: unknown, code?: TidalErrorCode): error is TidalError {
  return error instanceof TidalError && (code === undefined || error.code === code);
}
