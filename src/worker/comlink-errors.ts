/**
 * Keeps `TidalError` codes across a comlink boundary. Comlink's own `throw`
 * handler turns every thrown error into a plain `Error` with the message
 * only; this one wraps it so that a `TidalError` thrown in a worker is a
 * `TidalError` with the same code and details on the main thread (and the
 * other way round). Both sides call `installTidalErrorHandler()` once.
 */
import * as Comlink from 'comlink';
import { TidalError, type TidalErrorCode } from '../common/errors.js';

interface SerializedTidalError {
  readonly tidalError: true;
  readonly code: TidalErrorCode;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
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
      const error = thrown.value;
      if (error instanceof TidalError) {
        const reason = error.message.startsWith(`${error.code}: `) ? error.message.slice(error.code.length + 2) : error.message;
        let details: Record<string, unknown> | undefined;
        try {
          details = error.details === undefined ? undefined : structuredClone({ ...error.details });
        } catch {
          details = undefined; // details that cannot cross are left behind, the code and message are not
        }
        const serialized: SerializedTidalError = { tidalError: true, code: error.code, reason, details };
        return [serialized, []];
      }
      return base.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const s = serialized as Partial<SerializedTidalError> | null;
      if (s && s.tidalError === true && typeof s.code === 'string' && typeof s.reason === 'string') {
        throw new TidalError(s.code, s.reason, s.details ? { details: s.details } : {});
      }
      return base.deserialize(serialized);
    },
  } as Comlink.TransferHandler<{ value: unknown }, unknown>);
}
