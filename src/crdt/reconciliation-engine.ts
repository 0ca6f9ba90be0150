/**
 * ReconciliationEngine: anti-entropy between two replicas of one shard
 * (docs/CRDT.md, "Reconciliation"). The initiator walks the digest tree
 * down from the root, sending the digests of a node's 16 children; the
 * responder answers which children differ, expanding the large ones and
 * listing its entries under the small ones; the initiator then pushes its
 * entities the responder lacks or holds differently and requests the ones
 * it lacks, and the responder sends those (and its own version of any key
 * where the merge changed the initiator's). Both sides merge everything
 * they receive, so after one complete session both hold the union.
 *
 *     const [a, b] = createInMemoryChannelPair();
 *     const left = await ReconciliationEngine.create({ state: stateA, channel: a });
 *     const right = await ReconciliationEngine.create({ state: stateB, channel: b });
 *     const report = await left.reconcile(); // stateA and stateB now encode equal
 *
 * The initiator drives rounds: one message, one reply, retransmitted after
 * `retryTimeoutMs` until answered (`maxRetries` times, then `Timeout`). The
 * responder processes each round once and answers repeats from a cache,
 * so loss, duplication and reordering cost time, never correctness. Every
 * message is bounded (`maxMessageBytes`) and validated before anything of
 * it is used; a bad one is counted (`stats.rejected`) and dropped.
 *
 * Each side indexes a snapshot of its state when the session starts;
 * entities written during a session are picked up by the next one.
 */
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { TidalError, isTidalError, type TidalErrorCode } from '../common/errors.js';
import { Encoder } from '../common/bytes.js';
import { systemTimers, type ReconciliationChannel, type ReconciliationTimers } from './channel.js';
import { ChildSummary, EntityDigestCache, type DigestIndex, MAX_TREE_DEPTH, TREE_FANOUT } from './digest-index.js';
import {
  MESSAGE_HEADER_BOUND,
  MIN_MESSAGE_BYTES,
  RefusalReason,
  decodeEntityRecords,
  decodeReconcileMessage,
  encodeReconcileMessage,
  popcount16,
  probeNodeSize,
  probeResultSize,
  pushSize,
  recordSize,
  type EntityPush,
  type LeafListing,
  type ProbeMessage,
  type ProbeNode,
  type ProbeResult,
  type RefusedMessage,
  type ReplyMessage,
} from './reconciliation-messages.js';
import type { DecodedEntity } from './signal-entity.js';
import type { CrdtSignalState } from './signal-state.js';

/** Default `maxMessageBytes`: 64 KiB, the default control-message bound of the project's transports. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/** Default `leafSize`: a differing node with at most this many responder entities is compared key by key. */
export const DEFAULT_LEAF_SIZE = 8;
/** Default `retryTimeoutMs`. */
export const DEFAULT_RETRY_TIMEOUT_MS = 500;
/** Default `maxRetries`. */
export const DEFAULT_MAX_RETRIES = 8;
/** Default `sessionIdleMs`. */
export const DEFAULT_SESSION_IDLE_MS = 30_000;
/** Default `maxSessions`. */
export const DEFAULT_MAX_SESSIONS = 4;
/** Default `maxRounds`. */
export const DEFAULT_MAX_ROUNDS = 100_000;

/** Options of `ReconciliationEngine`. */
export interface ReconciliationEngineOptions {
  /** The replica's state; merged into, and read for digests. */
  state: CrdtSignalState;
  /** The channel to the one peer this engine reconciles with. */
  channel: ReconciliationChannel;
  /** Timers for retransmission and session expiry. Default: the platform's. */
  timers?: ReconciliationTimers;
  /** Randomness for session ids, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Largest message sent or accepted, in bytes (≥ 4096). Both peers should use the same; replies honour the smaller. Default 64 KiB. */
  maxMessageBytes?: number;
  /** A differing node with at most this many responder entities is compared key by key rather than split further. Default 8. */
  leafSize?: number;
  /** How long the initiator waits for a reply before retransmitting. Default 500 ms. */
  retryTimeoutMs?: number;
  /** Retransmissions of one round before `reconcile` fails with `Timeout`. Default 8. */
  maxRetries?: number;
  /** A responder session idle this long is dropped. Default 30 s. */
  sessionIdleMs?: number;
  /** Most responder sessions held at once; a new one evicts the least recently active. Default 4. */
  maxSessions?: number;
  /** Rounds after which a session that has not finished is abandoned with `Timeout` (a bound on a misbehaving peer). Default 100 000. */
  maxRounds?: number;
  /** Called for every incoming message that is refused, with the reason. For reporting; must not throw. */
  onRejected?: (error: TidalError) => void;
}

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
  readonly nodesCompared: number;
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
  readonly retransmissions: number;
  /** Per-round detail. */
  readonly perRound: readonly ReconciliationRoundReport[];
}

/** Counters of everything an engine has seen since it was created. */
export interface ReconciliationStats {
  readonly messagesSent: number;
  readonly bytesSent: number;
  /** Sends the channel threw on (treated as lost messages). */
  readonly sendFailures: number;
  readonly messagesReceived: number;
  readonly bytesReceived: number;
  /** Incoming messages refused (malformed, oversized, unexpected, clock drift...). */
  readonly rejected: number;
  /** `rejected`, by error code. */
  readonly rejectedByCode: Readonly<Partial<Record<TidalErrorCode, number>>>;
  /** Well-formed messages ignored as duplicates or stale (a normal result of retransmission). */
  readonly duplicates: number;
  readonly retransmissions: number;
  /** Sessions this engine started (`reconcile` calls that ran). */
  readonly sessionsInitiated: number;
  /** Sessions this engine answered. */
  readonly sessionsServed: number;
  /** Responder sessions dropped for idleness or to make room. */
  readonly sessionsExpired: number;
}

interface MutableStats {
  messagesSent: number;
  bytesSent: number;
  sendFailures: number;
  messagesReceived: number;
  bytesReceived: number;
  rejected: number;
  rejectedByCode: Partial<Record<TidalErrorCode, number>>;
  duplicates: number;
  retransmissions: number;
  sessionsInitiated: number;
  sessionsServed: number;
  sessionsExpired: number;
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

/** Responder-side state of one session. */
interface ResponderSession {
  readonly id: number;
  readonly index: DigestIndex;
  readonly maxBytes: number;
  lastRound: number;
  cachedReply: Uint8Array | undefined;
  /** Digest (as `lo:hi`) → key, for every entry listed in this session. */
  readonly listed: Map<string, string>;
  /** Keys to send, in order, from `head`. */
  readonly outbox: string[];
  head: number;
  readonly queued: Set<string>;
  idleTimer: unknown;
}

const FINISHED_MEMORY = 64;

function digestKey(lo: number, hi: number): string {
  return `${lo}:${hi}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkPositiveInteger(value: number, what: string, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TidalError('InvalidArgument', `${what} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Reconciles one replica's `CrdtSignalState` with one peer's over a channel. */
export class ReconciliationEngine {
  private readonly state: CrdtSignalState;
  private readonly channel: ReconciliationChannel;
  private readonly timers: ReconciliationTimers;
  private readonly random: () => number;
  private readonly maxMessageBytes: number;
  private readonly leafSize: number;
  private readonly retryTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly sessionIdleMs: number;
  private readonly maxSessions: number;
  private readonly maxRounds: number;
  private readonly onRejected: ((error: TidalError) => void) | undefined;
  private readonly cache: EntityDigestCache;
  private readonly encoder = new Encoder(1024);
  private readonly summary = new ChildSummary();
  private readonly counters: MutableStats = {
    messagesSent: 0,
    bytesSent: 0,
    sendFailures: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    rejected: 0,
    rejectedByCode: {},
    duplicates: 0,
    retransmissions: 0,
    sessionsInitiated: 0,
    sessionsServed: 0,
    sessionsExpired: 0,
  };
  private readonly responders = new Map<number, ResponderSession>();
  private readonly finished: number[] = [];
  private waiter: Waiter | undefined;
  private retryTimer: unknown;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private closed = false;

  /** An engine using the already-loaded BLAKE3 `blake3`; see `create` for the usual way. Throws `InvalidArgument` for bad options. */
  constructor(options: ReconciliationEngineOptions, blake3: Blake3) {
    this.state = options.state;
    this.channel = options.channel;
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? Math.random;
    this.maxMessageBytes = checkPositiveInteger(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes', MIN_MESSAGE_BYTES);
    this.leafSize = checkPositiveInteger(options.leafSize ?? DEFAULT_LEAF_SIZE, 'leafSize');
    this.retryTimeoutMs = checkPositiveInteger(options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS, 'retryTimeoutMs');
    this.maxRetries = checkPositiveInteger(options.maxRetries ?? DEFAULT_MAX_RETRIES, 'maxRetries', 0);
    this.sessionIdleMs = checkPositiveInteger(options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS, 'sessionIdleMs');
    this.maxSessions = checkPositiveInteger(options.maxSessions ?? DEFAULT_MAX_SESSIONS, 'maxSessions');
    this.maxRounds = checkPositiveInteger(options.maxRounds ?? DEFAULT_MAX_ROUNDS, 'maxRounds');
    this.onRejected = options.onRejected;
    this.cache = new EntityDigestCache(blake3);
    this.unsubscribe = this.channel.onMessage((bytes) => this.receive(bytes));
  }

  /** An engine for `options.state` over `options.channel`, once BLAKE3 is loaded. Starts answering the peer at once. */
  static async create(options: ReconciliationEngineOptions): Promise<ReconciliationEngine> {
    return new ReconciliationEngine(options, await loadBlake3());
  }

  /** A snapshot of the counters. */
  get stats(): ReconciliationStats {
    return { ...this.counters, rejectedByCode: { ...this.counters.rejectedByCode } };
  }

  /**
   * Runs one session with the peer and resolves with its report once both
   * sides hold the union of what they held when it started. Calls queue up
   * behind each other. Rejects with `Timeout` when a round stays
   * unanswered through `maxRetries` retransmissions (or the peer dropped
   * the session), `ClockDrift` when either side refuses the other's HLCs,
   * `PayloadTooLarge` when an answer cannot fit in a message, `Closed`
   * after `close()`. What was merged before a failure stays merged (it is
   * all valid state); run `reconcile()` again to finish.
   */
  reconcile(): Promise<ReconciliationReport> {
    if (this.closed) return Promise.reject(new TidalError('Closed', 'the reconciliation engine is closed'));
    const run = this.chain.then(() => this.runSession());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops answering, cancels timers and fails a running `reconcile` with `Closed`. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const session of this.responders.values()) this.timers.clearTimeout(session.idleTimer);
    this.responders.clear();
    this.waiter?.fail(new TidalError('Closed', 'the reconciliation engine was closed during a session'));
  }

  // ---------------------------------------------------------------- sending

  private transmit(bytes: Uint8Array): void {
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.length;
    try {
      this.channel.send(bytes);
    } catch {
      // A channel should not throw; if it does, the message is as good as lost, and retransmission covers that.
      this.counters.sendFailures++;
    }
  }

  // -------------------------------------------------------------- receiving

  private receive(bytes: Uint8Array): void {
    this.counters.messagesReceived++;
    this.counters.bytesReceived += bytes.length;
    if (this.closed) return;
    try {
      if (!(bytes instanceof Uint8Array)) throw new TidalError('MalformedMessage', 'reconciliation message is not a Uint8Array');
      if (bytes.length > this.maxMessageBytes) {
        throw new TidalError(
          'PayloadTooLarge',
          `reconciliation message of ${bytes.length} bytes exceeds the bound of ${this.maxMessageBytes}`,
          {
            details: { bytes: bytes.length, max: this.maxMessageBytes },
          },
        );
      }
      const message = decodeReconcileMessage(bytes);
      switch (message.type) {
        case 'probe':
          this.answerProbe(message);
          break;
        case 'finish':
          this.endResponder(message.session, false);
          break;
        case 'reply':
          this.takeReply(message, bytes.length);
          break;
        case 'refused':
          this.takeRefusal(message);
          break;
      }
    } catch (error) {
      this.refuse(error);
    }
  }

  private refuse(error: unknown): void {
    const refusal = isTidalError(error)
      ? error
      : new TidalError('MalformedMessage', 'unexpected failure while handling a reconciliation message', { cause: error });
    this.counters.rejected++;
    this.counters.rejectedByCode[refusal.code] = (this.counters.rejectedByCode[refusal.code] ?? 0) + 1;
    try {
      this.onRejected?.(refusal);
    } catch {
      // A reporting hook must not take the engine down.
    }
  }

  // -------------------------------------------------------------- initiator

  private async runSession(): Promise<ReconciliationReport> {
    if (this.closed) throw new TidalError('Closed', 'the reconciliation engine is closed');
    this.counters.sessionsInitiated++;
    const session = Math.floor(this.random() * 2 ** 32) >>> 0;
    const index = this.cache.index(this.state);
    let peerMax = this.maxMessageBytes;
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
      const limit = Math.min(this.maxMessageBytes, peerMax) - MESSAGE_HEADER_BOUND;
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
        const record = this.entityRecord(key);
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

      const message: ProbeMessage = { type: 'probe', session, round, maxMessageBytes: this.maxMessageBytes, probes, requests, pushes };
      const bytes = encodeReconcileMessage(message);
      const exchange = await this.exchange(session, round, sent, bytes);
      const { reply, entities } = exchange.accepted;

      // Everything in the reply has been checked; now it takes effect, all of it or (clock drift) none.
      let changed: string[];
      try {
        changed = this.state.mergeDecoded(entities);
      } catch (error) {
        this.refuse(error);
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
    this.transmit(finish);
    return { session, rounds: perRound.length, ...totals, perRound };
  }

  /** The current record of `key` (a fresh copy: it is handed to the channel). */
  private entityRecord(key: string): Uint8Array {
    const entity = this.state.entityObject(key);
    if (!entity) throw new TidalError('InvalidArgument', `entity ${JSON.stringify(key)} vanished from the state during reconciliation`);
    this.encoder.length = 0;
    entity.writeTo(this.encoder, key);
    return this.encoder.toBytes();
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
      const send = (): void => this.transmit(bytes.slice());
      const arm = (): void => {
        this.retryTimer = this.timers.setTimeout(onTimeout, this.retryTimeoutMs);
      };
      const settle = (): void => {
        this.timers.clearTimeout(this.retryTimer);
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
        this.counters.retransmissions++;
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

  private takeReply(reply: ReplyMessage, size: number): void {
    const waiter = this.waiter;
    if (!waiter || waiter.session !== reply.session || waiter.round !== reply.round) {
      this.counters.duplicates++;
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

  private takeRefusal(message: RefusedMessage): void {
    const waiter = this.waiter;
    if (!waiter || waiter.session !== message.session || waiter.round !== message.round) {
      this.counters.duplicates++;
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

  // -------------------------------------------------------------- responder

  private answerProbe(probe: ProbeMessage): void {
    let session = this.responders.get(probe.session);
    if (!session) {
      if (this.finished.includes(probe.session)) {
        this.counters.duplicates++;
        return;
      }
      if (probe.round !== 0) {
        this.transmit(
          encodeReconcileMessage({ type: 'refused', session: probe.session, round: probe.round, reason: RefusalReason.UnknownSession }),
        );
        return;
      }
      session = this.startResponder(probe);
    } else {
      // Most recently active last, for eviction.
      this.responders.delete(session.id);
      this.responders.set(session.id, session);
    }
    this.touch(session);
    if (probe.round === session.lastRound && session.cachedReply) {
      this.counters.duplicates++;
      // A copy: the cached reply may be needed again, and the channel may detach what it sends.
      this.transmit(session.cachedReply.slice());
      return;
    }
    if (probe.round <= session.lastRound) {
      this.counters.duplicates++;
      return;
    }
    if (probe.round !== session.lastRound + 1) {
      throw new TidalError(
        'MalformedMessage',
        `round ${probe.round} of session ${probe.session} skips ahead of round ${session.lastRound}`,
      );
    }
    const reply = this.answerRound(session, probe);
    session.lastRound = probe.round;
    session.cachedReply = reply;
    this.transmit(reply.slice());
  }

  private startResponder(probe: ProbeMessage): ResponderSession {
    while (this.responders.size >= this.maxSessions) {
      const oldest = this.responders.keys().next().value as number;
      this.endResponder(oldest, true);
    }
    const session: ResponderSession = {
      id: probe.session,
      index: this.cache.index(this.state),
      maxBytes: Math.min(this.maxMessageBytes, probe.maxMessageBytes),
      lastRound: -1,
      cachedReply: undefined,
      listed: new Map(),
      outbox: [],
      head: 0,
      queued: new Set(),
      idleTimer: undefined,
    };
    this.responders.set(session.id, session);
    this.counters.sessionsServed++;
    return session;
  }

  private touch(session: ResponderSession): void {
    this.timers.clearTimeout(session.idleTimer);
    session.idleTimer = this.timers.setTimeout(() => this.endResponder(session.id, true), this.sessionIdleMs);
  }

  /**
   * Forgets a session. One the initiator finished is remembered for a
   * while, so that late duplicates of its rounds are ignored; one that
   * expired or was evicted is not, so that a later round of it is refused
   * and its initiator learns at once.
   */
  private endResponder(id: number, expired: boolean): void {
    const session = this.responders.get(id);
    if (!session) return;
    this.timers.clearTimeout(session.idleTimer);
    this.responders.delete(id);
    if (expired) {
      this.counters.sessionsExpired++;
      return;
    }
    this.finished.push(id);
    if (this.finished.length > FINISHED_MEMORY) this.finished.shift();
  }

  private enqueue(session: ResponderSession, key: string): void {
    if (session.queued.has(key)) return;
    session.queued.add(key);
    session.outbox.push(key);
  }

  /** Handles one new round: check it all, merge the pushes, answer the probes, send queued entities. */
  private answerRound(session: ResponderSession, probe: ProbeMessage): Uint8Array {
    const requested: string[] = [];
    for (let i = 0; i < probe.requests.length; i += 2) {
      const key = session.listed.get(digestKey(probe.requests[i]!, probe.requests[i + 1]!));
      if (key === undefined) throw new TidalError('MalformedMessage', 'the probe requests an entity this session never listed');
      requested.push(key);
    }
    const pushed = decodeEntityRecords(probe.pushes.map((p) => p.record));
    try {
      this.state.mergeDecoded(pushed);
    } catch (error) {
      if (!isTidalError(error, 'ClockDrift')) throw error;
      this.refuse(error);
      return encodeReconcileMessage({ type: 'refused', session: session.id, round: probe.round, reason: RefusalReason.ClockDrift });
    }
    // Send back our version wherever the merge shows we knew more.
    for (let i = 0; i < pushed.length; i++) {
      const key = pushed[i]!.key;
      if (!sameBytes(this.entityRecord(key), probe.pushes[i]!.record)) this.enqueue(session, key);
      const counterpart = probe.pushes[i]!.counterpart;
      if (counterpart) {
        const other = session.listed.get(digestKey(counterpart[0], counterpart[1]));
        if (other !== undefined && other !== key) this.enqueue(session, other);
      }
    }
    for (const key of requested) this.enqueue(session, key);

    const limit = session.maxBytes - MESSAGE_HEADER_BOUND;
    let room = limit;
    const results: ProbeResult[] = [];
    for (const node of probe.probes) {
      const answer = this.compareChildren(session, node);
      const size = probeResultSize(answer.result.listings.map((l) => l.tags.length));
      if (size > room) {
        if (results.length === 0) {
          return encodeReconcileMessage({
            type: 'refused',
            session: session.id,
            round: probe.round,
            reason: RefusalReason.PayloadTooLarge,
          });
        }
        break;
      }
      room -= size;
      results.push(answer.result);
      for (const [lo, hi, key] of answer.listed) session.listed.set(digestKey(lo, hi), key);
      for (const [start, end] of answer.sendAll) for (let i = start; i < end; i++) this.enqueue(session, session.index.keys[i]!);
    }

    const records: Uint8Array[] = [];
    let skipped = 0;
    while (session.head < session.outbox.length) {
      const key = session.outbox[session.head]!;
      const record = this.entityRecord(key);
      const size = recordSize(record.length);
      if (size <= limit && size > room) break;
      session.head++;
      session.queued.delete(key);
      if (size > limit) {
        skipped++;
        continue;
      }
      room -= size;
      records.push(record);
    }
    if (session.head > 1024 && session.head * 2 > session.outbox.length) {
      session.outbox.splice(0, session.head);
      session.head = 0;
    }
    const reply: ReplyMessage = {
      type: 'reply',
      session: session.id,
      round: probe.round,
      maxMessageBytes: this.maxMessageBytes,
      results,
      records,
      pending: session.outbox.length - session.head,
      skipped,
    };
    return encodeReconcileMessage(reply);
  }

  /** Compares the initiator's digests of one node's children with ours. */
  private compareChildren(
    session: ResponderSession,
    node: ProbeNode,
  ): { result: ProbeResult; listed: [number, number, string][]; sendAll: [number, number][] } {
    const index = session.index;
    index.summarizeChildren(node.depth, node.prefix, this.summary);
    const deepest = node.depth + 1 === MAX_TREE_DEPTH;
    let expandMask = 0;
    let leafMask = 0;
    let listMask = 0;
    const listings: LeafListing[] = [];
    const listed: [number, number, string][] = [];
    const sendAll: [number, number][] = [];
    let j = 0;
    for (let c = 0; c < TREE_FANOUT; c++) {
      const bit = 1 << c;
      const count = this.summary.count(c);
      const start = this.summary.starts[c]!;
      if ((node.mask & bit) === 0) {
        // The initiator has nothing here: everything we have under it goes over.
        if (count > 0) {
          leafMask |= bit;
          sendAll.push([start, start + count]);
        }
        continue;
      }
      const lo = node.digests[j++]!;
      const hi = node.digests[j++]!;
      if (lo === this.summary.digestLo[c] && hi === this.summary.digestHi[c]) continue;
      if (count <= this.leafSize || deepest) {
        leafMask |= bit;
        listMask |= bit;
        const tags = new Uint32Array(count);
        const digests = new Uint32Array(2 * count);
        for (let k = 0; k < count; k++) {
          const i = start + k;
          tags[k] = index.tag(i);
          digests[2 * k] = index.digestLo[i]!;
          digests[2 * k + 1] = index.digestHi[i]!;
          listed.push([index.digestLo[i]!, index.digestHi[i]!, index.keys[i]!]);
        }
        listings.push({ tags, digests });
      } else {
        expandMask |= bit;
      }
    }
    return { result: { expandMask, leafMask, listMask, listings }, listed, sendAll };
  }
}
