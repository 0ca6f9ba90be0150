/**
 * The helper worker of `BatchHasher`: answers each request with the v2
 * batch digest of the bytes it was sent (`batchDigestV2`) and hands the
 * buffer back, transferred, for the next request. Started by the WAL's
 * worker; it holds no state and touches no storage.
 */
import { loadBlake3 } from '../common/blake3.js';
import type { BatchHashReply, BatchHashRequest } from './batch-hasher.js';
import { batchDigestV2 } from './format.js';

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<BatchHashRequest>) => void) | null;
  postMessage(message: BatchHashReply, transfer: Transferable[]): void;
};
const blake3 = loadBlake3();

scope.onmessage = (event) => {
  const { id, bytes, length } = event.data;
  blake3
    .then((b3) => {
      const digest = batchDigestV2(b3, new Uint8Array(bytes, 0, length));
      scope.postMessage({ id, digest, bytes }, [bytes]);
    })
    .catch((error: unknown) => {
      // Thrown again outside the promise, it reaches the WAL's worker as an `error` event: it stops asking.
      queueMicrotask(() => {
        throw error;
      });
    });
};
