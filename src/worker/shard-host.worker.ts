/**
 * The module Worker that hosts one shard of a database in one tab: it
 * creates a `ShardHost` when the main thread calls `init`, and exposes it
 * with comlink (with TidalError codes kept across the boundary).
 *
 * An app whose bundler cannot follow `new URL('./shard-host.worker.js',
 * import.meta.url)` builds this module as its own entry and passes
 * `openTidal({ createWorker })`.
 */
import * as Comlink from 'comlink';
import { loadBlake3 } from '../common/blake3.js';
import { TidalError } from '../common/errors.js';
import { installTidalErrorHandler } from './comlink-errors.js';
import { ShardHost, type ShardHostConfig } from './shard-host.js';
import { serveWritePort } from './write-port.js';

installTidalErrorHandler();

let host: ShardHost | undefined;

function live(): ShardHost {
  if (!host) throw new TidalError('Closed', 'shard host not initialised');
  return host;
}

const api = {
  init(config: ShardHostConfig): void {
    host ??= new ShardHost(config);
    // BLAKE3's wasm compiles while the main thread takes the shard's lock: a leader needs it first thing.
    loadBlake3().catch(() => undefined);
  },
  ping: () => live().ping(),
  onChanges: (listener: Parameters<ShardHost['onChanges']>[0]) => live().onChanges(listener),
  watch: (prefixes: string[]) => live().watch(prefixes),
  becomeLeader: (term: number) => live().becomeLeader(term),
  becomeFollower: () => live().becomeFollower(),
  stepDown: () => live().stepDown(),
  shipToInTabFollower: (port: MessagePort, replica: string) => live().shipToInTabFollower(port, replica),
  hostInTabFollower: (shard: number, port: MessagePort, replica: string) => live().hostInTabFollower(shard, port, replica),
  serveWrites: (port: MessagePort) => serveWritePort(port, (frame, answered) => live().write(frame, answered)),
  get: (...args: Parameters<ShardHost['get']>) => live().get(...args),
  scan: (...args: Parameters<ShardHost['scan']>) => live().scan(...args),
  status: () => live().status(),
  syncNow: () => live().syncNow(),
  syncStats: () => live().syncStats(),
  corruptNextPayload: () => live().corruptNextPayload(),
  snapshotNow: () => live().snapshotNow(),
  dropNextPayload: () => live().dropNextPayload(),
  hang: (ms: number) => live().hang(ms),
  close: () => live().close(),
};

export type ShardHostApi = typeof api;
Comlink.expose(api);
