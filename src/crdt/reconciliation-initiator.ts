/**
 * The initiating half of a `ReconciliationEngine` (docs/CRDT.md,
 * "Reconciliation"): one session at a time, it walks the digest tree down
 * from the root, one round (a probe message and its reply) after another,
 * retransmitting a round after `retryTimeoutMs` until answered, and merges
 * what the responder sends. The engine owns it and hands it the replies and
 * refusals addressed to it.
 */
import { TidalError } from '../common/errors.js';
import { ChildSummary, MAX_TREE_DEPTH, TREE_FANOUT, type DigestIndex } from './digest-index.js';
import { digestKey, type ReconciliationContext } from './reconciliation-context.js';
import {
  MESSAGE_HEADER_BOUND,
  RefusalReason,
  decodeEntityRecords,
  encodeReconcileMessage,
  popcount16,
  probeNodeSize,
  pushSize,
  type EntityPush,
  type LeafListing,
  type ProbeMessage,
  type ProbeNode,
  type ProbeResult,
  type RefusedMessage,
  type ReplyMessage,
} from './reconciliation-messages.js';
import type { DecodedEntity } from './signal-entity.js';

/** What one round of a session did, seen from the initiator. */
export interface ReconciliationRoundReport {
  /** 0-based round number. */
  readonly round: number;
  /** Child nodes whose digests the responder compared in this round. */
  readonly nodesCompared: number;
  /** Entries compared one by one at leaves (the initiator's plus the responder's). */
  readonly keysCompared: number;
  /** Entities the initiator sent. */
  readonly keysSent: number;
  /** Entities the initiator received. */
  readonly keysReceived: number;
  /** Bytes the initiator sent, retransmissions included. */
  readonly bytesSent: number;
  /** Bytes of the accepted reply. */
  readonly bytesReceived: number;
  /** Retransmissions of this round's message. */
  readonly retransmissions: number;
}

/** The outcome of one `reconcile()` session, seen from the initiator. */
export interface ReconciliationReport {
  /** The session id. */
  readonly session: number;
  /** Message/reply exchanges. */
  readonly rounds: number;
  /** Digest-tree nodes compared over all rounds. */
  readonly nodesCompared: number;
  /** Entities compared one by one at leaves over all rounds. */
  readonly keysCompared: number;
  /** Entities sent to the peer. */
  readonly keysSent: number;
  /** Entities received from the peer. */
  readonly keysReceived: number;
  /** Entities not exchanged because their record cannot fit in a message (both directions). */
  readonly keysSkipped: number;
  /** Local entities the merge changed. */
  readonly keysChanged: number;
  /** All bytes sent for the session (rounds, retransmissions, the closing message). */
  readonly bytesSent: number;
  /** All bytes of the session's accepted replies. */
  readonly bytesReceived: number;
  /** Rounds sent again because no reply came in time. */
  readonly retransmissions: number;
  /** Per-round detail. */
  readonly perRound: readonly ReconciliationRoundReport[];
}

/** A probe the initiator sent, with its own children's ranges for resolving leaves. */
interface SentProbe {
  readonly depth: number;
  readonly prefix: number;
  readonly mask: number;
  readonly starts: Int32Array;
}

interface PendingPush {
  readonly key: string;
  readonly counterpart: readonly [number, number] | undefined;
}

/** A reply that passed every check, with its records decoded. */
interface AcceptedReply {
  readonly reply: ReplyMessage;
  readonly entities: DecodedEntity[];
  readonly bytes: number;
}

interface Waiter {
  readonly session: number;
  readonly round: number;
  readonly probes: readonly SentProbe[];
  accept(reply: AcceptedReply): void;
  fail(error: TidalError): void;
}

/** @internal The initiator's limits, checked by the engine. */
export interface InitiatorOptions {
  readonly random: () => number;
  readonly retryTimeoutMs: number;
  readonly maxRetries: number;
  readonly maxRounds: number;
}

/** @internal Runs an engine's sessions as their initiator. */
export class ReconciliationInitiator {
  private readonly engine: ReconciliationContext;
  private readonly random: () => number;
  private readonly retryTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRounds: number;
  private readonly summary = new ChildSummary();
  private waiter: Waiter | undefined;
  private retryTimer: unknown;

  constructor(engine: ReconciliationContext, options: InitiatorOptions) {
    this.engine = engine;
    this.random = options.random;
    this.retryTimeoutMs = options.retryTimeoutMs;
    this.maxRetries = options.maxRetries;
    this.maxRounds = options.maxRounds;
  }

  /** Fails the round in flight, if any, with `error` (the engine closing). */
  fail(error: TidalError): void {
    this.waiter?.fail(error);
  }

  /** Runs one session with the peer; see `ReconciliationEngine.reconcile`. */
  async run(): Promise<ReconciliationReport> {
    this.engine.counters.sessionsInitiated++;
    const session = Math.floor(this.random() * 2 ** 32) >>> 0;
    const index = this.engine.cache.index(this.engine.state);
    let peerMax = this.engine.maxMessageBytes;
    let peerPending = 0;
    const probeQueue: { depth: number; prefix: number }[] = [{ depth: 0, prefix: 0 }];
    const requestQueue: [number, number][] = [];
    const pushQueue: PendingPush[] = [];
    const perRound: ReconciliationRoundReport[] = [];
    const totals = {
      nodesCompared: 0,
      keysCompared: 0,
      keysSent: 0,
      keysReceived: 0,
      keysSkipped: 0,
      keysChanged: 0,
      bytesSent: 0,
      bytesReceived: 0,
      retransmissions: 0,
    };

    for (let round = 0; ; round++) {
      if (round > 0 && probeQueue.length === 0 && requestQueue.length === 0 && pushQueue.length === 0 && peerPending === 0) break;
      if (round >= this.maxRounds) {
        throw new TidalError('Timeout', `reconciliation session ${session} did not finish within ${this.maxRounds} rounds`);
      }
      const limit = Math.min(this.engine.maxMessageBytes, peerMax) - MESSAGE_HEADER_BOUND;
      let room = limit;

      const probes: ProbeNode[] = [];
      const sent: SentProbe[] = [];
      let taken = 0;
      for (; taken < probeQueue.length; taken++) {
        const { depth, prefix } = probeQueue[taken]!;
        index.summarizeChildren(depth, prefix, this.summary);
        const mask = this.summary.nonEmptyMask();
        const size = probeNodeSize(prefix, mask);
        if (size > room) break;
        room -= size;
        const digests = new Uint32Array(2 * popcount16(mask));
        for (let c = 0, j = 0; c < TREE_FANOUT; c++) {
          if ((mask & (1 << c)) === 0) continue;
          digests[j++] = this.summary.digestLo[c]!;
          digests[j++] = this.summary.digestHi[c]!;
        }
        probes.push({ depth, prefix, mask, digests });
        sent.push({ depth, prefix, mask, starts: this.summary.starts.slice() });
      }
      probeQueue.splice(0, taken);

      const requestCount = Math.min(requestQueue.length, Math.floor(room / 8));
      const requests = new Uint32Array(requestCount * 2);
      for (let i = 0; i < requestCount; i++) {
        requests[2 * i] = requestQueue[i]![0];
        requests[2 * i + 1] = requestQueue[i]![1];
      }
      requestQueue.splice(0, requestCount);
      room -= requestCount * 8;

      const pushes: EntityPush[] = [];
      let pushed = 0;
      for (; pushed < pushQueue.length; pushed++) {
        const { key, counterpart } = pushQueue[pushed]!;
        const record = this.engine.entityRecord(key);
        const size = pushSize(record.length, counterpart !== undefined);
        if (size > limit) {
          totals.keysSkipped++;
          continue;
        }
        if (size > room) break;
        room -= size;
        pushes.push({ counterpart, record });
      }
      pushQueue.splice(0, pushed);

      const message: ProbeMessage = {
        type: 'probe',
        session,
        round,
        maxMessageBytes: this.engine.maxMessageBytes,
        probes,
        requests,
        pushes,
      };
      const bytes = encodeReconcileMessage(message);
      const exchange = await this.exchange(session, round, sent, bytes);
      const { reply, entities } = exchange.accepted;

      // Everything in the reply has been checked; now it takes effect, all of it or (clock drift) none.
      let changed: string[];
      try {
        changed = this.engine.state.mergeDecoded(entities);
      } catch (error) {
        this.engine.refuse(error);
        throw error;
      }
      peerMax = reply.maxMessageBytes;
      peerPending = reply.pending;
      totals.keysSkipped += reply.skipped;
      const unprocessed = sent.slice(reply.results.length).map(({ depth, prefix }) => ({ depth, prefix }));
      probeQueue.unshift(...unprocessed);
      let keysCompared = 0;
      for (let i = 0; i < reply.results.length; i++) {
        keysCompared += this.resolve(index, sent[i]!, reply.results[i]!, probeQueue, pushQueue, requestQueue);
      }
      const roundReport: ReconciliationRoundReport = {
        round,
        nodesCompared: reply.results.length * TREE_FANOUT,
        keysCompared,
        keysSent: pushes.length,
        keysReceived: entities.length,
        bytesSent: bytes.length * (1 + exchange.retransmissions),
        bytesReceived: exchange.accepted.bytes,
        retransmissions: exchange.retransmissions,
      };
      perRound.push(roundReport);
      totals.nodesCompared += roundReport.nodesCompared;
      totals.keysCompared += keysCompared;
      totals.keysSent += roundReport.keysSent;
      totals.keysReceived += roundReport.keysReceived;
      totals.keysChanged += changed.length;
      totals.bytesSent += roundReport.bytesSent;
      totals.bytesReceived += roundReport.bytesReceived;
      totals.retransmissions += exchange.retransmissions;
    }

    const finish = encodeReconcileMessage({ type: 'finish', session });
    totals.bytesSent += finish.length;
    this.engine.transmit(finish);
    return { session, rounds: perRound.length, ...totals, perRound };
  }

  /**
   * Applies the responder's verdict on one probe: queue the children to
   * expand, and for each listed leaf, push what the responder lacks and
   * request what we lack. Returns the entries compared.
   */
  private resolve(
    index: DigestIndex,
    probe: SentProbe,
    result: ProbeResult,
    probeQueue: { depth: number; prefix: number }[],
    pushQueue: PendingPush[],
    requestQueue: [number, number][],
  ): number {
    let compared = 0;
    let listing = 0;
    for (let c = 0; c < TREE_FANOUT; c++) {
      const bit = 1 << c;
      const childPrefix = probe.prefix * TREE_FANOUT + c;
      if ((result.expandMask & bit) !== 0) {
        probeQueue.push({ depth: probe.depth + 1, prefix: childPrefix });
        continue;
      }
      if ((result.listMask & bit) === 0) continue;
      const theirs = result.listings[listing++]!;
      const start = probe.starts[c]!;
      const end = probe.starts[c + 1]!;
      compared += end - start + theirs.tags.length;
      this.compareLeaf(index, start, end, theirs, pushQueue, requestQueue);
    }
    return compared;
  }

  private compareLeaf(
    index: DigestIndex,
    start: number,
    end: number,
    theirs: LeafListing,
    pushQueue: PendingPush[],
    requestQueue: [number, number][],
  ): void {
    const ours = new Set<string>();
    for (let i = start; i < end; i++) ours.add(digestKey(index.digestLo[i]!, index.digestHi[i]!));
    const theirDigests = new Set<string>();
    // Their entries we do not hold, by tag, to pair with our version of the same key.
    const unmatched = new Map<number, number[]>();
    for (let j = 0; j < theirs.tags.length; j++) {
      const key = digestKey(theirs.digests[2 * j]!, theirs.digests[2 * j + 1]!);
      theirDigests.add(key);
      if (ours.has(key)) continue;
      const tag = theirs.tags[j]!;
      const list = unmatched.get(tag);
      if (list) list.push(j);
      else unmatched.set(tag, [j]);
    }
    for (let i = start; i < end; i++) {
      if (theirDigests.has(digestKey(index.digestLo[i]!, index.digestHi[i]!))) continue;
      const partner = unmatched.get(index.tag(i))?.shift();
      const counterpart: [number, number] | undefined =
        partner === undefined ? undefined : [theirs.digests[2 * partner]!, theirs.digests[2 * partner + 1]!];
      pushQueue.push({ key: index.keys[i]!, counterpart });
    }
    for (const list of unmatched.values()) {
      for (const j of list) requestQueue.push([theirs.digests[2 * j]!, theirs.digests[2 * j + 1]!]);
    }
  }

  /** Sends one round and waits for its accepted reply, retransmitting on timeout. */
  private exchange(
    session: number,
    round: number,
    probes: readonly SentProbe[],
    bytes: Uint8Array,
  ): Promise<{ accepted: AcceptedReply; retransmissions: number }> {
    return new Promise((resolve, reject) => {
      let retransmissions = 0;
      // A copy per transmission: the channel may transfer (detach) what it is given.
      const send = (): void => this.engine.transmit(bytes.slice());
      const arm = (): void => {
        this.retryTimer = this.engine.clock.setTimeout(onTimeout, this.retryTimeoutMs);
      };
      const settle = (): void => {
        this.engine.clock.clearTimeout(this.retryTimer);
        this.waiter = undefined;
      };
      const onTimeout = (): void => {
        if (this.waiter?.round !== round || this.waiter.session !== session) return;
        if (retransmissions >= this.maxRetries) {
          settle();
          reject(
            new TidalError(
              'Timeout',
              `round ${round} of reconciliation session ${session} went unanswered through ${this.maxRetries} retransmissions`,
              {
                details: { session, round },
              },
            ),
          );
          return;
        }
        retransmissions++;
        this.engine.counters.retransmissions++;
        send();
        arm();
      };
      this.waiter = {
        session,
        round,
        probes,
        accept: (accepted) => {
          settle();
          resolve({ accepted, retransmissions });
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      send();
      arm();
    });
  }

  /** Takes the reply to the round in flight; a stale or duplicate one is counted and ignored. Throws for a malformed one. */
  takeReply(reply: ReplyMessage, size: number): void {
    const waiter = this.waiter;
    if (!waiter || waiter.session !== reply.session || waiter.round !== reply.round) {
      this.engine.counters.duplicates++;
      return;
    }
    if (reply.results.length > waiter.probes.length) {
      throw new TidalError('MalformedMessage', `reply answers ${reply.results.length} probes, but only ${waiter.probes.length} were sent`);
    }
    for (let i = 0; i < reply.results.length; i++) {
      const { mask, depth } = waiter.probes[i]!;
      const r = reply.results[i]!;
      if ((r.expandMask & ~mask) !== 0) throw new TidalError('MalformedMessage', 'reply expands a child we have nothing under');
      if (r.listMask !== (r.leafMask & mask))
        throw new TidalError('MalformedMessage', 'reply lists a different set of leaves than it should');
      if (depth + 1 === MAX_TREE_DEPTH && r.expandMask !== 0)
        throw new TidalError('MalformedMessage', 'reply expands a node at the deepest level');
    }
    // All records decode, or the reply is refused whole.
    const entities = decodeEntityRecords(reply.records);
    waiter.accept({ reply, entities, bytes: size });
  }

  /** Fails the round in flight with the reason the peer refused it. */
  takeRefusal(message: RefusedMessage): void {
    const waiter = this.waiter;
    if (!waiter || waiter.session !== message.session || waiter.round !== message.round) {
      this.engine.counters.duplicates++;
      return;
    }
    switch (message.reason) {
      case RefusalReason.UnknownSession:
        waiter.fail(
          new TidalError(
            'Timeout',
            `the peer no longer holds reconciliation session ${message.session} (it expired or was evicted); run reconcile() again`,
          ),
        );
        return;
      case RefusalReason.ClockDrift:
        waiter.fail(new TidalError('ClockDrift', `the peer refused our entities: they hold an HLC too far ahead of its clock`));
        return;
      case RefusalReason.PayloadTooLarge:
        waiter.fail(
          new TidalError(
            'PayloadTooLarge',
            'the peer cannot fit its answer in one message (a leaf holds too many entities); raise maxMessageBytes',
          ),
        );
        return;
    }
  }
}
