/**
 * What every role of the ship suite's worker (`../ship.worker.ts`) shares:
 * the addresses and sizes of the runs, the wire types the suite sees, the
 * links between the two workers, this run's OPFS folders and the clock.
 *
 * Times that cross realms are `performance.timeOrigin + performance.now()`
 * (ms since the epoch, sub-ms resolution); the suite checks that the
 * workers' clocks agree with its own before it trusts a difference. Every
 * file lives under `tidal-bench/ship-<uuid>/`.
 */
import { TidalError } from '../../../src/common/errors.js';
import { sameAddress, type PeerAddress } from '../../../src/transport/address.js';
import { BroadcastChannelTransport } from '../../../src/transport/broadcast-channel.js';
import { EndpointTransport } from '../../../src/transport/endpoint-transport.js';
import { MessagePortTransport } from '../../../src/transport/message-port.js';
import type { Transport } from '../../../src/transport/transport.js';

export const ROOT = 'tidal-bench';
export const SHARD = 0;
/** The leader's and the follower's addresses on every link. */
export const LEADER: PeerAddress = Object.freeze({ shard: SHARD, replica: 'leader' });
export const FOLLOWER: PeerAddress = Object.freeze({ shard: SHARD, replica: 'follower' });
export const EVENTS_PER_BATCH = 1_000;
export const EVENT_BYTES = 100;
const MB = 1e6;

/** Milliseconds since the epoch, comparable across the realms of this page. */
export const now = (): number => performance.timeOrigin + performance.now();

/** How a role reaches the other worker. */
export type ShipLink =
  { readonly kind: 'port'; readonly port: MessagePort; readonly copy?: boolean } | { readonly kind: 'broadcast'; readonly channel: string };

/** The throughput log, as built. */
export interface ShipLogShape {
  readonly segments: number;
  readonly sealed: number;
  /** Bytes of the sealed segments (what is timed). */
  readonly sealedBytes: number;
  /** The last LSN of the last sealed segment. */
  readonly lastSealedLsn: number;
  readonly batches: number;
  readonly batchBytes: number;
}

/** What one throughput round saw at the follower. */
export interface ShipRoundResult {
  /** When the last LSN of the last sealed segment was applied. */
  readonly appliedAt: number;
  readonly bytesVerified: number;
  readonly payloadsApplied: number;
  readonly payloadsRejected: number;
  readonly duplicates: number;
  /** Time the follower spent waiting for segments (ready for more, none there), from the round's first wait on. */
  readonly idleMs: number;
}

/** The follower's receive path taken apart, over the sealed segments, MB/s each. */
export interface ReceivePathBreakdown {
  /** The package's BLAKE3 alone over every segment byte (`limit.blake3.receiver`). */
  readonly blake3: number;
  /** `scanSegment`: the footer digest over the segment and the batch walk (what FollowerDb verifies). */
  readonly scan: number;
  /** `decodeBatch` (no digest: the footer covered it) and `decodePayload` of every batch: the events FollowerDb decodes. */
  readonly decode: number;
  /** `Wal.importBatches` of every batch into a fresh durable WAL on OPFS, one call (and one flush) per segment. */
  readonly importWal: number;
  /** Each segment written whole to a fresh OPFS file (open, one write, one flush, close): what storing a verified sealed segment verbatim would cost. */
  readonly writeWhole: number;
}

/** This worker's folder of the run, and a fresh folder in it for each thing a round opens. */
export const runFolder = `ship-${crypto.randomUUID()}`;
let folders = 0;
export const freshPath = (what: string): string[] => [ROOT, runFolder, `${what}-${folders++}`];

/** A transport on `link` from `local` to `remote`. */
export function openLink(link: ShipLink, local: PeerAddress, remote: PeerAddress): Transport {
  if (link.kind === 'broadcast') return new BroadcastChannelTransport(new BroadcastChannel(link.channel), { local, peers: [remote] });
  if (!link.copy) return new MessagePortTransport(link.port, { local, remote });
  // The same transport code with the carrier cloning: postMessage without a transfer list copies the buffer.
  return new EndpointTransport({
    local,
    endpoint: link.port,
    transfer: false,
    canReach: (to) => sameAddress(to, remote),
    acceptFrom: (from) => sameAddress(from, remote),
  });
}

/** Polls `done` every millisecond; `Timeout` past `timeoutMs`. */
export async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > timeoutMs) throw new TidalError('Timeout', `${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Megabytes (10^6) a second. */
export function mbPerS(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}
