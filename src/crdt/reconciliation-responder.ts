/**
 * The responding half of a `ReconciliationEngine` (docs/CRDT.md,
 * "Reconciliation"): it answers each probe of a peer's session once (and a
 * repeat from a cache), merges the entities pushed to it, says which
 * children differ, lists small leaves and sends the entities the initiator
 * lacks. It holds at most `maxSessions` sessions, each dropped after
 * `sessionIdleMs` idle.
 */
import { TidalError, isTidalError } from '../common/errors.js';
import { ChildSummary, MAX_TREE_DEPTH, TREE_FANOUT, type DigestIndex } from './digest-index.js';
import { digestKey, type ReconciliationContext } from './reconciliation-context.js';
import {
  MESSAGE_HEADER_BOUND,
  RefusalReason,
  decodeEntityRecords,
  encodeReconcileMessage,
  probeResultSize,
  recordSize,
  type LeafListing,
  type ProbeMessage,
  type ProbeNode,
  type ProbeResult,
  type ReplyMessage,
} from './reconciliation-messages.js';

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

/** Finished sessions remembered, so that late duplicates of their rounds are ignored. */
const FINISHED_MEMORY = 64;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** @internal The responder's limits, checked by the engine. */
export interface ResponderOptions {
  readonly leafSize: number;
  readonly sessionIdleMs: number;
  readonly maxSessions: number;
}

/** @internal Answers a peer's sessions. */
export class ReconciliationResponder {
  private readonly engine: ReconciliationContext;
  private readonly leafSize: number;
  private readonly sessionIdleMs: number;
  private readonly maxSessions: number;
  private readonly summary = new ChildSummary();
  private readonly sessions = new Map<number, ResponderSession>();
  private readonly finished: number[] = [];

  constructor(engine: ReconciliationContext, options: ResponderOptions) {
    this.engine = engine;
    this.leafSize = options.leafSize;
    this.sessionIdleMs = options.sessionIdleMs;
    this.maxSessions = options.maxSessions;
  }

  /** The initiator finished session `id`. */
  finish(id: number): void {
    this.endSession(id, false);
  }

  /** Drops every session and its timer. */
  close(): void {
    for (const session of this.sessions.values()) this.engine.clock.clearTimeout(session.idleTimer);
    this.sessions.clear();
  }

  /** Answers one probe: a new round, a repeat (from the cache), or a refusal. Throws for a malformed one. */
  answerProbe(probe: ProbeMessage): void {
    let session = this.sessions.get(probe.session);
    if (!session) {
      if (this.finished.includes(probe.session)) {
        this.engine.counters.duplicates++;
        return;
      }
      if (probe.round !== 0) {
        this.engine.transmit(
          encodeReconcileMessage({ type: 'refused', session: probe.session, round: probe.round, reason: RefusalReason.UnknownSession }),
        );
        return;
      }
      session = this.startSession(probe);
    } else {
      // Most recently active last, for eviction.
      this.sessions.delete(session.id);
      this.sessions.set(session.id, session);
    }
    this.touch(session);
    if (probe.round === session.lastRound && session.cachedReply) {
      this.engine.counters.duplicates++;
      // A copy: the cached reply may be needed again, and the channel may detach what it sends.
      this.engine.transmit(session.cachedReply.slice());
      return;
    }
    if (probe.round <= session.lastRound) {
      this.engine.counters.duplicates++;
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
    this.engine.transmit(reply.slice());
  }

  private startSession(probe: ProbeMessage): ResponderSession {
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value as number;
      this.endSession(oldest, true);
    }
    const session: ResponderSession = {
      id: probe.session,
      index: this.engine.cache.index(this.engine.state),
      maxBytes: Math.min(this.engine.maxMessageBytes, probe.maxMessageBytes),
      lastRound: -1,
      cachedReply: undefined,
      listed: new Map(),
      outbox: [],
      head: 0,
      queued: new Set(),
      idleTimer: undefined,
    };
    this.sessions.set(session.id, session);
    this.engine.counters.sessionsServed++;
    return session;
  }

  private touch(session: ResponderSession): void {
    this.engine.clock.clearTimeout(session.idleTimer);
    session.idleTimer = this.engine.clock.setTimeout(() => this.endSession(session.id, true), this.sessionIdleMs);
  }

  /**
   * Forgets a session. One the initiator finished is remembered for a
   * while, so that late duplicates of its rounds are ignored; one that
   * expired or was evicted is not, so that a later round of it is refused
   * and its initiator learns at once.
   */
  private endSession(id: number, expired: boolean): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.engine.clock.clearTimeout(session.idleTimer);
    this.sessions.delete(id);
    if (expired) {
      this.engine.counters.sessionsExpired++;
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
      this.engine.state.mergeDecoded(pushed);
    } catch (error) {
      if (!isTidalError(error, 'ClockDrift')) throw error;
      this.engine.refuse(error);
      return encodeReconcileMessage({ type: 'refused', session: session.id, round: probe.round, reason: RefusalReason.ClockDrift });
    }
    // Send back our version wherever the merge shows we knew more.
    for (let i = 0; i < pushed.length; i++) {
      const key = pushed[i]!.key;
      if (!sameBytes(this.engine.entityRecord(key), probe.pushes[i]!.record)) this.enqueue(session, key);
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
      const record = this.engine.entityRecord(key);
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
      maxMessageBytes: this.engine.maxMessageBytes,
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
