/**
 * Keeps `TidalError` codes across a comlink boundary. Comlink's own `throw`
 * handler turns every thrown error into a plain `Error` with the message
 * only; this one wraps it so that a `TidalError` thrown in a worker is a
 * `TidalError` with the same code and details on the main thread (and the
 * other way round). Both sides call `installTidalErrorHandler()` once.
 * The write port (write-port.ts), which does not go through comlink, sends
 * its errors in the same form (`errorToWire`, `errorFromWire`).
 */
import * as Comlink from 'comlink';
import { reasonOf, TidalError, type TidalErrorCode } from '../common/errors.js';

interface SerializedTidalError {
  readonly tidalError: true;
  readonly code: TidalErrorCode;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
}

/** An error as it crosses a worker boundary: a `TidalError`'s code, message and details, or another error's message. */
export type WireError = SerializedTidalError | { readonly tidalError: false; readonly message: string };

/** `error` as it crosses a worker boundary (details that cannot be cloned are left behind, the code and message are not). */
export function errorToWire(error: unknown): WireError {
  if (!(error instanceof TidalError)) return { tidalError: false, message: error instanceof Error ? error.message : String(error) };
  const reason = reasonOf(error);
  let details: Record<string, unknown> | undefined;
  try {
    details = error.details === undefined ? undefined : structuredClone({ ...error.details });
  } catch {
    details = undefined;
  }
  return { tidalError: true, code: error.code, reason, details };
}

/** The error `errorToWire` sent: a `TidalError` with its code and details, or an `Error` with the message. */
export function errorFromWire(wire: unknown): Error {
  const s = wire as Partial<SerializedTidalError> | null;
  if (s && s.tidalError === true && typeof s.code === 'string' && typeof s.reason === 'string') {
    return new TidalError(s.code, s.reason, s.details ? { details: s.details } : {});
  }
  const message = (wire as { message?: unknown } | null)?.message;
  return new Error(typeof message === 'string' ? message : 'an error that did not cross the worker boundary');
}

let installed = false;

/** Registers the handler (idempotent). */
export function installTidalErrorHandler(): void {
  if (installed) return;
  installed = true;
  const base = Comlink.transferHandlers.get('throw') as Comlink.TransferHandler<{ value: unknown }, unknown>;
  Comlink.transferHandlers.set('throw', {
    canHandle: (value: unknown): value is { value: unknown } => base.canHandle(value),
    serialize(thrown: { value: unknown }) {
      if (thrown.value instanceof TidalError) return [errorToWire(thrown.value), []];
      return base.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const s = serialized as Partial<SerializedTidalError> | null;
      if (s && s.tidalError === true && typeof s.code === 'string' && typeof s.reason === 'string') throw errorFromWire(s);
      return base.deserialize(serialized);
    },
  } as Comlink.TransferHandler<{ value: unknown }, unknown>);
}
