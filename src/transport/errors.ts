/**
 * `TransportError`: the failures a transport reports to the code that
 * sends through it. It is a `TidalError` (branch on `code`, and
 * `isTidalError(e, 'Closed')` works), narrowed to the three codes a
 * transport raises itself. Bad arguments are plain `InvalidArgument`
 * `TidalError`s; bad *incoming* messages are never thrown at all, they are
 * counted and dropped (see `TransportCounters`).
 */
import { TidalError } from '../common/errors.js';

/** The codes a `TransportError` carries. */
export type TransportErrorCode =
  /** The destination is not reachable through this transport; `details.shard` and `details.replica` name it. */
  | 'UnknownPeer'
  /** The transport was closed; open a new one. */
  | 'Closed'
  /** A payload above the configured maximum; `details.size` and `details.max` are in bytes. Nothing was sent. */
  | 'PayloadTooLarge';

/** A failure of a transport operation. */
export class TransportError extends TidalError {
  /** Why the operation failed: `UnknownPeer`, `Closed` or `PayloadTooLarge`. */
  declare readonly code: TransportErrorCode;

  /** A transport failure with `code`, a message naming what was wrong, and optional `cause` and `details`. */
  constructor(code: TransportErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
