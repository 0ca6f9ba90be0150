/**
 * The seal worker (`sealer.ts`): seals, names and opens one user's sync
 * objects off the thread that syncs. The first message brings the keys
 * (the AES-256-GCM `CryptoKey`, non-extractable, and the naming key's
 * hasher state), answered with `{ ready: true }` once it can seal (`false` and why, if it cannot); every later one is a `seal` or an `open`, answered with
 * its id, the bytes transferred back. A failure is answered as its
 * `TidalError` code and message, never thrown out of the worker.
 */
import { createBLAKE3, type IHasher } from 'hash-wasm';
import { namedByTag, namedParts, open, seal } from './envelope.js';
import { errorAnswer, objectMismatch, partsOf, type SealAnswer, type SealerReady, type SealRequest } from './sealer.js';
import { toHex } from './sync-key.js';

interface WorkerKeys {
  readonly aead: CryptoKey;
  readonly names: IHasher;
  /** The naming hasher's initial state (keyed, nothing hashed). */
  readonly initial: Uint8Array;
}

let keys: Promise<WorkerKeys> | undefined;

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SealRequest>) => void) | null;
  postMessage(message: SealAnswer | SealerReady, transfer: Transferable[]): void;
};

const giveAway = (bytes: Uint8Array): Transferable[] => (bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : []);

/** The keyed BLAKE3 of `parts` after the state `from` (the bytes before them already hashed into it). */
function nameOf(names: IHasher, from: Uint8Array, parts: readonly Uint8Array[]): string {
  names.load(from);
  for (const part of parts) names.update(part);
  return toHex(names.digest('binary'));
}

async function answer(request: Exclude<SealRequest, { op: 'keys' }>): Promise<void> {
  try {
    if (!keys) throw new Error('no keys were posted before the first request');
    const { aead, names, initial } = await keys;
    if (request.op === 'seal') {
      const sealed = await seal({ aead }, request.kind, request.context, request.plaintext, request.version);
      // The Blob a PUT sends (s3-remote.ts) is made here, not on the thread that syncs: it copies every byte (~1 ms a MB).
      const body = new Blob([sealed as BlobPart]);
      scope.postMessage({ id: request.id, sealed, name: nameOf(names, initial, namedParts(sealed)), body }, giveAway(sealed));
      return;
    }
    if (request.op === 'seal-parts') {
      await sealParts(aead, names, initial, request);
      return;
    }
    const { expected, sealed } = request;
    // An object named by its header, nonce and tag is named by them alone (what a ranged read hashed of it, nothing).
    const name =
      expected &&
      (namedByTag(sealed)
        ? nameOf(names, initial, namedParts(sealed))
        : nameOf(names, expected.state ?? initial, [sealed.subarray(expected.hashedBytes)]));
    if (expected && name !== expected.name) throw objectMismatch(expected.name);
    const plaintext = await open({ aead }, request.kind, request.context, sealed, request.what);
    scope.postMessage({ id: request.id, plaintext }, giveAway(plaintext));
  } catch (error) {
    for (const id of request.op === 'seal-parts' ? request.ids : [request.id]) scope.postMessage(errorAnswer(id, error), []);
  }
}

/** Seals the parts of a `seal-parts` request one after another, each answered (under its own id) as soon as it is sealed. */
async function sealParts(
  aead: CryptoKey,
  names: IHasher,
  initial: Uint8Array,
  request: Extract<SealRequest, { op: 'seal-parts' }>,
): Promise<void> {
  const { ids, contexts } = request;
  let parts: Uint8Array[];
  try {
    parts = partsOf(request.plaintext, request.partBytes, ids.length);
    if (contexts.length !== ids.length) throw new Error('seal-parts: one context per part');
  } catch (error) {
    for (const id of ids) scope.postMessage(errorAnswer(id, error), []);
    return;
  }
  for (let i = 0; i < ids.length; i++) {
    try {
      const sealed = await seal({ aead }, request.kind, contexts[i]!, parts[i]!, request.version);
      const body = new Blob([sealed as BlobPart]);
      scope.postMessage({ id: ids[i]!, sealed, name: nameOf(names, initial, namedParts(sealed)), body }, giveAway(sealed));
    } catch (error) {
      scope.postMessage(errorAnswer(ids[i]!, error), []);
    }
  }
}

scope.onmessage = (event) => {
  const request = event.data;
  if (request.op === 'keys') {
    keys = createBLAKE3(256).then((names) => ({ aead: request.aead, names, initial: request.names }));
    keys.then(
      () => scope.postMessage({ ready: true }, []),
      (error: unknown) => scope.postMessage({ ready: false, why: error instanceof Error ? error.message : String(error) }, []),
    );
    return;
  }
  void answer(request);
};
