/**
 * The messages tabs exchange about one shard besides its log, on the
 * shard's `BroadcastChannel` `tidal:<db>:shard:<k>:rpc`: the leader's
 * announcements (and questions for it), and writes that a follower tab
 * forwards to the leader with their results. A BroadcastChannel clones
 * every message to every tab; each message names its sender and addressee
 * and is validated before use: anything malformed is counted and dropped.
 */
import { isTidalErrorCode } from '../common/errors.js';
import type { ShardId } from '../shard/shard-id.js';
import type { WriteToken } from '../session/write.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { MAX_FRAME_BYTES } from './write-frame.js';

/** The version every RPC message carries (`v`): the database's protocol version (`protocol.ts`). */
export const RPC_VERSION = PROTOCOL_VERSION;
type V = typeof RPC_VERSION;
/** Most writes one forwarded message may carry. */
export const MAX_FORWARDED_WRITES = 10_000;

export type WriteOutcome =
  { readonly ok: true; readonly token: WriteToken } | { readonly ok: false; readonly code: string; readonly message: string };

export type RpcMessage =
  /**
   * `since` is the leader's term: it grows with every grant of the shard's lock, so the higher one
   * leads. `host` names the worker that leads (a restarted worker leads on in the same term).
   */
  | { readonly v: V; readonly t: 'leader'; readonly shard: ShardId; readonly tab: string; readonly since: number; readonly host: string }
  | { readonly v: V; readonly t: 'who'; readonly shard: ShardId; readonly tab: string }
  | {
      readonly v: V;
      readonly t: 'write';
      readonly shard: ShardId;
      readonly from: string;
      readonly to: string;
      readonly id: number;
      /** The tick's writes as the forwarding tab's main thread framed them (write-frame.ts); the leader checks each. */
      readonly frame: Uint8Array;
    }
  | {
      readonly v: V;
      readonly t: 'result';
      readonly shard: ShardId;
      readonly from: string;
      readonly to: string;
      readonly id: number;
      readonly outcomes: readonly WriteOutcome[];
    };

const isTab = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The message if it is a well-formed RPC message for `shard`, else `undefined`. (The writes a frame holds are checked by the leader, each on its own.) */
export function parseRpc(data: unknown, shard: ShardId): RpcMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Record<string, unknown>;
  if (m['v'] !== RPC_VERSION || m['shard'] !== shard) return undefined;
  switch (m['t']) {
    case 'leader':
      return isTab(m['tab']) && isCount(m['since']) && isTab(m['host']) ? (m as RpcMessage) : undefined;
    case 'who':
      return isTab(m['tab']) ? (m as RpcMessage) : undefined;
    case 'write':
      return isTab(m['from']) &&
        isTab(m['to']) &&
        isCount(m['id']) &&
        m['frame'] instanceof Uint8Array &&
        m['frame'].length <= MAX_FRAME_BYTES
        ? (m as RpcMessage)
        : undefined;
    case 'result': {
      if (
        !isTab(m['from']) ||
        !isTab(m['to']) ||
        !isCount(m['id']) ||
        !Array.isArray(m['outcomes']) ||
        m['outcomes'].length > MAX_FORWARDED_WRITES
      )
        return undefined;
      for (const o of m['outcomes'] as unknown[]) {
        const outcome = o as Record<string, unknown> | null;
        if (typeof outcome !== 'object' || outcome === null) return undefined;
        if (outcome['ok'] === true) {
          const token = outcome['token'] as Record<string, unknown> | null;
          if (typeof token !== 'object' || token === null || token['shard'] !== shard || !isCount(token['lsn'])) return undefined;
        } else if (outcome['ok'] !== false || !isTidalErrorCode(outcome['code']) || typeof outcome['message'] !== 'string') {
          // The code becomes the TidalError the forwarding tab's write is rejected with: only tidal's own codes.
          return undefined;
        }
      }
      return m as RpcMessage;
    }
    default:
      return undefined;
  }
}
