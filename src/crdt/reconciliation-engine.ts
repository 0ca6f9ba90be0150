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
 *
 * The engine is the front: it checks options, receives and dispatches
 * messages, counts and sends; `ReconciliationInitiator`
 * (reconciliation-initiator.ts) runs its sessions and
 * `ReconciliationResponder` (reconciliation-responder.ts) answers the
 * peer's.
 */
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { Encoder } from '../common/bytes.js';
import { systemClock, type Clock } from '../common/clock.js';
import { TidalError, isTidalError, type TidalErrorCode } from '../common/errors.js';
import { functionOption, integerOption } from '../common/options.js';
import type { ReconciliationChannel } from './channel.js';
import { EntityDigestCache } from './digest-index.js';
import type { MutableStats, ReconciliationContext } from './reconciliation-context.js';
import { ReconciliationInitiator, type ReconciliationReport } from './reconciliation-initiator.js';
import { MIN_MESSAGE_BYTES, decodeReconcileMessage } from './reconciliation-messages.js';
import { ReconciliationResponder } from './reconciliation-responder.js';
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
  /** Timers for retransmission and session expiry. Default `systemClock`. */
  clock?: Clock;
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

export type { ReconciliationReport, ReconciliationRoundReport } from './reconciliation-initiator.js';

/** Counters of everything an engine has seen since it was created. */
export interface ReconciliationStats {
  /** Messages handed to the channel, both roles, retransmissions included. */
  readonly messagesSent: number;
  /** Bytes of those messages. */
  readonly bytesSent: number;
  /** Sends the channel threw on (treated as lost messages). */
  readonly sendFailures: number;
  /** Messages that arrived from the peer, accepted or not. */
  readonly messagesReceived: number;
  /** Bytes of those messages. */
  readonly bytesReceived: number;
  /** Incoming messages refused (malformed, oversized, unexpected, clock drift...). */
  readonly rejected: number;
  /** `rejected`, by error code. */
  readonly rejectedByCode: Readonly<Partial<Record<TidalErrorCode, number>>>;
  /** Well-formed messages ignored as duplicates or stale (a normal result of retransmission). */
  readonly duplicates: number;
  /** Rounds sent again because no reply came within `retryTimeoutMs`. */
  readonly retransmissions: number;
  /** Sessions this engine started (`reconcile` calls that ran). */
  readonly sessionsInitiated: number;
  /** Sessions this engine answered. */
  readonly sessionsServed: number;
  /** Responder sessions dropped for idleness or to make room. */
  readonly sessionsExpired: number;
}

/** Reconciles one replica's `CrdtSignalState` with one peer's over a channel. */
export class ReconciliationEngine {
  private readonly state: CrdtSignalState;
  private readonly channel: ReconciliationChannel;
  private readonly clock: Clock;
  private readonly maxMessageBytes: number;
  private readonly onRejected: ((error: TidalError) => void) | undefined;
  private readonly cache: EntityDigestCache;
  private readonly encoder = new Encoder(1024);
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
  private readonly initiator: ReconciliationInitiator;
  private readonly responder: ReconciliationResponder;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private closed = false;

  /** An engine using the already-loaded BLAKE3 `blake3`; see `create` for the usual way. Throws `InvalidArgument` for bad options. */
  constructor(options: ReconciliationEngineOptions, blake3: Blake3) {
    this.state = options.state;
    this.channel = options.channel;
    this.clock = options.clock ?? systemClock;
    this.maxMessageBytes = integerOption('maxMessageBytes', options.maxMessageBytes, {
      min: MIN_MESSAGE_BYTES,
      default: DEFAULT_MAX_MESSAGE_BYTES,
    });
    const initiator = {
      random: functionOption<() => number>('random', options.random) ?? Math.random,
      retryTimeoutMs: integerOption('retryTimeoutMs', options.retryTimeoutMs, { min: 1, default: DEFAULT_RETRY_TIMEOUT_MS }),
      maxRetries: integerOption('maxRetries', options.maxRetries, { min: 0, default: DEFAULT_MAX_RETRIES }),
      maxRounds: integerOption('maxRounds', options.maxRounds, { min: 1, default: DEFAULT_MAX_ROUNDS }),
    };
    const responder = {
      leafSize: integerOption('leafSize', options.leafSize, { min: 1, default: DEFAULT_LEAF_SIZE }),
      sessionIdleMs: integerOption('sessionIdleMs', options.sessionIdleMs, { min: 1, default: DEFAULT_SESSION_IDLE_MS }),
      maxSessions: integerOption('maxSessions', options.maxSessions, { min: 1, default: DEFAULT_MAX_SESSIONS }),
    };
    this.onRejected = functionOption<(error: TidalError) => void>('onRejected', options.onRejected);
    this.cache = new EntityDigestCache(blake3);
    const context: ReconciliationContext = {
      state: this.state,
      cache: this.cache,
      clock: this.clock,
      maxMessageBytes: this.maxMessageBytes,
      counters: this.counters,
      transmit: (bytes) => this.transmit(bytes),
      refuse: (error) => this.refuse(error),
      entityRecord: (key) => this.entityRecord(key),
    };
    this.initiator = new ReconciliationInitiator(context, initiator);
    this.responder = new ReconciliationResponder(context, responder);
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
    const run = this.chain.then(() => {
      if (this.closed) throw new TidalError('Closed', 'the reconciliation engine is closed');
      return this.initiator.run();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops answering, cancels timers and fails a running `reconcile` with `Closed`. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.responder.close();
    this.initiator.fail(new TidalError('Closed', 'the reconciliation engine was closed during a session'));
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
          this.responder.answerProbe(message);
          break;
        case 'finish':
          this.responder.finish(message.session);
          break;
        case 'reply':
          this.initiator.takeReply(message, bytes.length);
          break;
        case 'refused':
          this.initiator.takeRefusal(message);
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

  /** The current record of `key` (a fresh copy: it is handed to the channel). */
  private entityRecord(key: string): Uint8Array {
    const entity = this.state.entityObject(key);
    if (!entity) throw new TidalError('InvalidArgument', `entity ${JSON.stringify(key)} vanished from the state during reconciliation`);
    this.encoder.length = 0;
    entity.writeTo(this.encoder, key);
    return this.encoder.toBytes();
  }
}
