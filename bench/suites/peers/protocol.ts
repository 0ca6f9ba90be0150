/**
 * What the peers suite (`../peers.ts`, in the bench page) and its two tabs
 * (`tab.ts`, a writer and a reader) say to each other, on one
 * BroadcastChannel per run (`controlChannel(run)`), apart from the channel
 * the system under test uses:
 *
 *     writer → suite   ready { info }           opened; `info` goes to the reader (tidal: the writer's tab id)
 *     reader → suite   ready                    opened, following the writer, reference computed
 *     suite  → writer  go
 *     writer → reader  written { position }     every event written locally; where the writer's state is
 *     reader → writer  converged                the reader reached `position` and its checksum equals the reference
 *     writer → suite   result { writtenMs, replicatedMs }   first write → last written, → converged received
 *     reader → suite   wire { bytes }           bytes on the wire the reader received (or verified)
 *     suite  → tab     close { role }           then closed { role } once the system is shut down (reader first)
 *     either → suite   failed { role, error }   anything that went wrong, convergence included
 *     writer → suite   unsupported { reason }   this build cannot run the system (instead of ready)
 */

/** The systems the suite compares (metric names: `peers.<system>.*`). */
export const SYSTEMS = [
  'tidal_batched',
  'tidal_per_call',
  'tidal_batched_awaited',
  'yjs_tx1000',
  'yjs_per_event',
  'tinybase_tx1000',
  'tinybase_per_event',
  'raw_json1000',
] as const;

/**
 * tidal with fewer shards than the default 4 (the contract figures above use
 * the default), to see what the shard count costs on a small machine: run
 * only when `TIDAL_BENCH_PEERS` names them, reported as
 * `peers.tidal_<mode>_shards<n>.*` and not compared with the peers.
 */
export const SHARD_VARIANTS = [
  'tidal_batched_shards1',
  'tidal_batched_shards2',
  'tidal_per_call_shards1',
  'tidal_per_call_shards2',
] as const;

export type SystemName = (typeof SYSTEMS)[number] | (typeof SHARD_VARIANTS)[number];

/** Every system a run may name: the compared ones, then the shard-count variants. */
export const ALL_SYSTEMS: readonly SystemName[] = [...SYSTEMS, ...SHARD_VARIANTS];
export type Role = 'writer' | 'reader';

export type ControlMessage =
  | { readonly type: 'ready'; readonly role: Role; readonly info: string }
  | { readonly type: 'go' }
  | { readonly type: 'written'; readonly position: unknown }
  | { readonly type: 'converged' }
  | { readonly type: 'result'; readonly writtenMs: number; readonly replicatedMs: number }
  | { readonly type: 'wire'; readonly bytes: number }
  | { readonly type: 'close'; readonly role: Role }
  | { readonly type: 'closed'; readonly role: Role }
  | { readonly type: 'failed'; readonly role: Role; readonly error: string }
  | { readonly type: 'unsupported'; readonly role: Role; readonly reason: string };

/** The control channel of run `run`. */
export const controlChannel = (run: string): string => `tidal-bench-peers-control-${run}`;

/** The channel a system's writer and reader share in run `run` (Yjs, TinyBase, raw). */
export const dataChannel = (run: string): string => `tidal-bench-peers-data-${run}`;

/** The tidal database of run `run`. */
export const databaseName = (run: string): string => `bench-peers-${run}`;

/** A system that cannot be measured in this build (tidal's batched API before it exists): skipped, not failed. */
export class Unsupported extends Error {}

/** Resolves with the next control message of `type` on `channel` (optionally from `role`), rejects on `failed`. */
export function nextMessage<T extends ControlMessage['type']>(
  channel: BroadcastChannel,
  type: T,
  timeoutMs: number,
  from?: Role,
): Promise<Extract<ControlMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.removeEventListener('message', listener);
      reject(new Error(`no '${type}'${from ? ` from the ${from}` : ''} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: MessageEvent<ControlMessage>) => {
      const message = event.data;
      const role = 'role' in message ? message.role : undefined;
      if (message.type === 'unsupported') {
        clearTimeout(timer);
        channel.removeEventListener('message', listener);
        reject(new Unsupported(message.reason));
        return;
      }
      if (message.type === 'failed') {
        clearTimeout(timer);
        channel.removeEventListener('message', listener);
        reject(new Error(`the ${message.role} failed: ${message.error}`));
        return;
      }
      if (message.type !== type || (from !== undefined && role !== undefined && role !== from)) return;
      clearTimeout(timer);
      channel.removeEventListener('message', listener);
      resolve(message as Extract<ControlMessage, { type: T }>);
    };
    channel.addEventListener('message', listener);
  });
}
