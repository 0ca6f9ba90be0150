/**
 * A worker that seals as a shard worker does (`sealerFor`, which starts the
 * seal worker from inside this one), for `sealer.browser.test.ts`: it
 * answers whether the plaintext's buffer went to a seal worker (detached
 * here) and whether what it sealed opens to the same bytes.
 */
import { sealerFor } from '../sealer.js';
import { SyncKeys } from '../sync-key.js';

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Uint8Array>) => void) | null;
  postMessage(message: { detached: boolean; opened: boolean; named: boolean }): void;
};

scope.onmessage = async (event) => {
  const keys = await SyncKeys.from(event.data);
  const sealer = sealerFor(keys);
  const context = { kind: 'chunk', space: 'nested', device: 'd', shard: 0, seq: 1, from: 1, to: 1 };
  const plaintext = new Uint8Array(100_000).fill(7);
  const { sealed, name } = await sealer.seal('chunk', context, plaintext, 2);
  const detached = plaintext.byteLength === 0;
  const named = name === keys.objectName(sealed);
  const opened = (await sealer.open('chunk', context, sealed, 'nested', { name })).every((b) => b === 7);
  scope.postMessage({ detached, opened, named });
};
