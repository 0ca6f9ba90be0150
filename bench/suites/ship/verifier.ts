/**
 * The verifier role of the ship suite's worker, the receiver of
 * `ship.message_channel.mb_per_s`: it verifies each payload exactly as
 * FollowerDb does on receipt and acknowledges it, and nothing else.
 */
import { loadBlake3 } from '../../../src/common/blake3.js';
import { TidalError } from '../../../src/common/errors.js';
import { encodeControl } from '../../../src/replication/messages.js';
import { verifyPayload } from '../../../src/replication/verify-payload.js';
import type { Transport } from '../../../src/transport/transport.js';
import { FOLLOWER, LEADER, SHARD, now, openLink, until, type ShipLink } from './common.js';

/**
 * The shipping metric's receiver: verifies each payload exactly as
 * FollowerDb does on receipt (`verifyPayload`: BLAKE3 over views of the
 * received buffer, then the batch walk) and acknowledges it, so the
 * shipper's in-flight window moves; it does not decode, store or apply.
 */
let verifying:
  { transport: Transport; verifiedAt: number; bytes: number; idleMs: number; verifyMs: number; done: Promise<void> } | undefined;

/** Stops receiving. */
export async function closeVerifying(): Promise<void> {
  const current = verifying;
  verifying = undefined;
  current?.transport.close();
  await current?.done.catch(() => undefined);
}

/** The verifier's part of the worker's API. */
export const verifierApi = {
  /** Verifier: starts receiving over `link`, verifying (and acknowledging) every payload until `markLsn` is verified. */
  async openVerifier(link: ShipLink, markLsn: number): Promise<void> {
    if (verifying) throw new TidalError('InvalidArgument', 'a verifier is already open');
    const b3 = await loadBlake3();
    const transport = openLink(link, FOLLOWER, LEADER);
    const state = { transport, verifiedAt: 0, bytes: 0, idleMs: 0, verifyMs: 0, done: Promise.resolve() };
    state.done = (async () => {
      for (;;) {
        const asked = performance.now();
        const segment = await transport.recvSegment();
        if (segment === null) return;
        const got = performance.now();
        // Waiting before the first segment is the leader's start, not the pipeline's.
        if (state.bytes > 0 && state.verifiedAt === 0) state.idleMs += got - asked;
        const batches = verifyPayload(b3, segment, SHARD);
        if (state.verifiedAt === 0) state.verifyMs += performance.now() - got;
        state.bytes += segment.bytes.byteLength;
        const last = batches[batches.length - 1]!.lastLsn;
        if (last >= markLsn && state.verifiedAt === 0) state.verifiedAt = now();
        await transport.sendControl(LEADER, encodeControl({ type: 'ack', shard: SHARD, appliedLsn: last }));
      }
    })();
    verifying = state;
    await transport.sendControl(LEADER, encodeControl({ type: 'request', shard: SHARD, fromLsn: 1, reason: 'hello' }));
  },

  /** Verifier: waits until the marked LSN is verified; when that was, and the bytes verified. */
  async verifierRound(): Promise<{ verifiedAt: number; bytesVerified: number; idleMs: number; verifyMs: number }> {
    const current = verifying;
    if (!current) throw new TidalError('InvalidArgument', 'no verifier open');
    await until('the last sealed segment verified', () => current.verifiedAt > 0, 120_000);
    return { verifiedAt: current.verifiedAt, bytesVerified: current.bytes, idleMs: current.idleMs, verifyMs: current.verifyMs };
  },

  /** Verifier: stops receiving. */
  closeVerifier: closeVerifying,
};
