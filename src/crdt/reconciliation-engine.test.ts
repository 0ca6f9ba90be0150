import { beforeAll, describe, expect, it } from 'vitest';
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { Encoder } from '../common/bytes.js';
import { createInMemoryChannelPair, type ReconciliationChannel } from './channel.js';
import { HLC, hlcFromParts } from './hlc.js';
import { ReconciliationEngine, type ReconciliationEngineOptions } from './reconciliation-engine.js';
import {
  decodeReconcileMessage,
  encodeReconcileMessage,
  type ProbeMessage,
  type ReconcileMessage,
  type ReplyMessage,
} from './reconciliation-messages.js';
import { CrdtSignalState } from './signal-state.js';
import { SimLink, prng, virtualTime, settle } from './testing/sim.js';

/** A probe of `session`'s round `round` as bytes (message bound 4096): nothing probed, requested or pushed but what `parts` gives. */
function probeBytes(session: number, round: number, parts: Partial<Pick<ProbeMessage, 'probes' | 'requests' | 'pushes'>> = {}): Uint8Array {
  return encodeReconcileMessage({
    type: 'probe',
    session,
    round,
    maxMessageBytes: 4096,
    probes: [],
    requests: new Uint32Array(),
    pushes: [],
    ...parts,
  });
}

const code = (c: string) => expect.objectContaining({ code: c });

let blake3: Blake3;
beforeAll(async () => {
  blake3 = await loadBlake3();
});

const WALL = 1_000_000;

/** A state of `n` entities `item-<i>`, each with a counter and a label. */
function populated(n: number, replica = 'r0', clock = new HLC({ now: () => WALL })): CrdtSignalState {
  const s = new CrdtSignalState({ clock });
  for (let i = 0; i < n; i++) {
    s.apply({ op: 'increment', key: `item-${i}`, kind: 'view', by: 1 + (i % 7), replica });
    s.apply({ op: 'set', key: `item-${i}`, field: 'label', value: `l${i % 5}`, hlc: hlcFromParts(WALL - 10_000 + i, 0), replica });
  }
  return s;
}

function copyOf(state: CrdtSignalState): CrdtSignalState {
  return CrdtSignalState.decode(state.encode(), { clock: new HLC({ now: () => WALL }) });
}

/** Two engines over an in-memory channel. */
function pair(a: CrdtSignalState, b: CrdtSignalState, options: Partial<ReconciliationEngineOptions> = {}) {
  const [left, right] = createInMemoryChannelPair();
  const initiator = new ReconciliationEngine({ state: a, channel: left, ...options }, blake3);
  const responder = new ReconciliationEngine({ state: b, channel: right, ...options }, blake3);
  return { initiator, responder };
}

/** An engine whose peer is the test itself: it sends raw bytes and sees every reply. */
function withRawPeer(state: CrdtSignalState, options: Partial<ReconciliationEngineOptions> = {}) {
  const [engineEnd, rawEnd] = createInMemoryChannelPair();
  const engine = new ReconciliationEngine({ state, channel: engineEnd, ...options }, blake3);
  const received: ReconcileMessage[] = [];
  rawEnd.onMessage((bytes) => received.push(decodeReconcileMessage(bytes)));
  return { engine, raw: rawEnd as ReconciliationChannel, received };
}

describe('ReconciliationEngine', () => {
  it('brings two diverged replicas to identical bytes, both ways, and reports the session', async () => {
    const a = populated(500);
    const b = copyOf(a);
    for (let i = 0; i < 10; i++) a.apply({ op: 'increment', key: `item-${i * 7}`, kind: 'view', by: 1, replica: 'r0' });
    for (let i = 0; i < 10; i++) b.apply({ op: 'increment', key: `item-${i * 11 + 1}`, kind: 'click', by: 2, replica: 'r1' });
    a.apply({ op: 'add', key: 'only-a', set: 'neg', member: 'x', replica: 'r0' });
    b.apply({ op: 'add', key: 'only-b', set: 'neg', member: 'y', replica: 'r1' });
    const { initiator, responder } = pair(a, b);

    const report = await initiator.reconcile();
    expect(a.encode()).toEqual(b.encode());
    expect(a.counterValue('item-1', 'click')).toBe(2);
    expect(b.counterValue('item-0', 'view')).toBe(2);
    expect(report.keysSent).toBeGreaterThanOrEqual(11);
    expect(report.keysReceived).toBeGreaterThanOrEqual(11);
    // Keys changed on both sides are exchanged at most once each way.
    expect(report.keysSent + report.keysReceived).toBeLessThanOrEqual(44);
    expect(report.keysChanged).toBe(11);
    expect(report.rounds).toBe(report.perRound.length);
    expect(report.bytesSent).toBe(initiator.stats.bytesSent);
    expect(report.bytesReceived).toBe(initiator.stats.bytesReceived);
    expect(report.perRound.reduce((n, r) => n + r.keysSent, 0)).toBe(report.keysSent);
    expect(report.keysCompared).toBeGreaterThan(0);
    expect(report.nodesCompared).toBeGreaterThan(0);
    expect(responder.stats.sessionsServed).toBe(1);

    // In sync now: one round of root digests, nothing sent.
    const again = await initiator.reconcile();
    expect(again.rounds).toBe(1);
    expect(again.keysSent + again.keysReceived).toBe(0);
    expect(initiator.stats.rejected + responder.stats.rejected).toBe(0);
  });

  it('sends only a small part of a large state that differs in a few entities', async () => {
    const a = populated(4000);
    const b = copyOf(a);
    for (let i = 0; i < 40; i++)
      (i % 2 ? a : b).apply({ op: 'increment', key: `item-${i * 97}`, kind: 'view', by: 1, replica: i % 2 ? 'r0' : 'r1' });
    const { initiator } = pair(a, b);
    const report = await initiator.reconcile();
    expect(a.encode()).toEqual(b.encode());
    expect(report.bytesSent + report.bytesReceived).toBeLessThan(a.encode().length * 0.1);
    expect(report.keysSent + report.keysReceived).toBeLessThanOrEqual(60);
  });

  it('fills an empty replica, and empties into one, within small messages', async () => {
    for (const direction of ['pull', 'push'] as const) {
      const full = populated(1500);
      const empty = new CrdtSignalState({ clock: new HLC({ now: () => WALL }) });
      const [a, b] = direction === 'pull' ? [empty, full] : [full, empty];
      const { initiator, responder } = pair(a, b, { maxMessageBytes: 4096 });
      const report = await initiator.reconcile();
      expect(a.encode()).toEqual(b.encode());
      expect(report.rounds).toBeGreaterThan(10);
      expect(Math.max(...report.perRound.map((r) => r.bytesSent))).toBeLessThanOrEqual(4096);
      expect(Math.max(...report.perRound.map((r) => r.bytesReceived))).toBeLessThanOrEqual(4096);
      expect(responder.stats.rejected).toBe(0);
    }
  });

  it('converges through loss, duplication and reordering, in virtual time (seeded)', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const time = virtualTime();
      const random = prng(seed);
      const link = new SimLink(time, random);
      link.faults = { drop: 0.3, duplicate: 0.3, maxDelayMs: 40, partitioned: false };
      const a = populated(300);
      const b = copyOf(a);
      for (let i = 0; i < 30; i++)
        (i % 2 ? a : b).apply({ op: 'increment', key: `item-${i * 9}`, kind: 'c', by: 1, replica: i % 2 ? 'r0' : 'r1' });
      const options = { clock: time, random, retryTimeoutMs: 100, maxRetries: 30, maxMessageBytes: 4096 };
      const initiator = new ReconciliationEngine({ state: a, channel: link.ends[0], ...options }, blake3);
      const responder = new ReconciliationEngine({ state: b, channel: link.ends[1], ...options }, blake3);
      const outcome = await time.run(initiator.reconcile());
      expect(outcome.ok, `seed ${seed}: ${String(!outcome.ok && outcome.error)}`).toBe(true);
      expect(a.encode(), `seed ${seed}`).toEqual(b.encode());
      expect(initiator.stats.retransmissions + responder.stats.duplicates + initiator.stats.duplicates).toBeGreaterThan(0);
      expect(initiator.stats.rejected + responder.stats.rejected).toBe(0);
      initiator.close();
      responder.close();
    }
  });

  it('gives up with Timeout across a partition, then finishes once it heals', async () => {
    const time = virtualTime();
    const link = new SimLink(time, prng(9));
    link.faults.partitioned = true;
    const a = populated(50);
    const b = new CrdtSignalState();
    const options = { clock: time, retryTimeoutMs: 100, maxRetries: 3 };
    const initiator = new ReconciliationEngine({ state: a, channel: link.ends[0], ...options }, blake3);
    new ReconciliationEngine({ state: b, channel: link.ends[1], ...options }, blake3);
    const failed = await time.run(initiator.reconcile());
    expect(failed.ok).toBe(false);
    expect(!failed.ok && failed.error).toEqual(code('Timeout'));
    expect(initiator.stats.retransmissions).toBe(3);
    expect(b.size).toBe(0);
    link.faults.partitioned = false;
    const healed = await time.run(initiator.reconcile());
    expect(healed.ok).toBe(true);
    expect(a.encode()).toEqual(b.encode());
  });

  it('counts and drops malformed, oversized and unexpected messages, and keeps working', async () => {
    const state = populated(20);
    const before = state.encode();
    const refused: string[] = [];
    const { engine, raw, received } = withRawPeer(state, { maxMessageBytes: 4096, onRejected: (e) => refused.push(e.code) });
    raw.send(new Uint8Array([1, 2, 3]));
    raw.send(new Uint8Array(5000));
    raw.send(new Uint8Array([0x54, 0x44, 0x52, 0x43, 7, 1, 0, 0, 0, 0]));
    // A well-formed probe whose pushed entity record is garbage: nothing of it may be merged.
    const enc = new Encoder();
    state.entityObject('item-1')!.writeTo(enc, 'item-new');
    const goodRecord = enc.toBytes();
    raw.send(
      probeBytes(77, 0, {
        probes: [{ depth: 0, prefix: 0, mask: 0, digests: new Uint32Array() }],
        pushes: [
          { counterpart: undefined, record: goodRecord },
          { counterpart: undefined, record: new Uint8Array([1, 0x6b, 9, 9]) },
        ],
      }),
    );
    // A probe that skips ahead, and one requesting a digest never listed.
    raw.send(probeBytes(77, 5));
    raw.send(probeBytes(78, 0, { requests: new Uint32Array([1, 2]) }));
    // Replies and refusals for sessions this engine never started.
    raw.send(encodeReconcileMessage({ type: 'refused', session: 5, round: 0, reason: 1 }));
    raw.send(encodeReconcileMessage({ type: 'finish', session: 1234 }));
    await settle();

    expect(state.encode()).toEqual(before);
    expect(state.has('item-new')).toBe(false);
    expect(engine.stats.rejectedByCode).toEqual({ MalformedMessage: 4, PayloadTooLarge: 1, UnsupportedVersion: 1 });
    expect(refused.sort()).toEqual([
      'MalformedMessage',
      'MalformedMessage',
      'MalformedMessage',
      'MalformedMessage',
      'PayloadTooLarge',
      'UnsupportedVersion',
    ]);
    expect(engine.stats.duplicates).toBe(1);
    // No bad round was processed, so nothing was answered.
    expect(received).toHaveLength(0);

    // Still answers a healthy peer.
    const other = new CrdtSignalState();
    const [l, r] = createInMemoryChannelPair();
    const peer = new ReconciliationEngine({ state: other, channel: l }, blake3);
    new ReconciliationEngine({ state, channel: r }, blake3);
    await peer.reconcile();
    expect(other.encode()).toEqual(state.encode());
  });

  it('refuses a round for a session it does not hold, and answers a repeated round from its cache', async () => {
    const state = populated(30);
    const { raw, received } = withRawPeer(state);
    raw.send(probeBytes(9, 2));
    const probe = probeBytes(10, 0, { probes: [{ depth: 0, prefix: 0, mask: 0, digests: new Uint32Array() }] });
    raw.send(probe);
    raw.send(probe.slice());
    await settle();
    expect(received[0]).toEqual({ type: 'refused', session: 9, round: 2, reason: 1 });
    expect(received[1]).toEqual(received[2]);
    expect(received[1]).toMatchObject({ type: 'reply', session: 10, round: 0 });
  });

  it('runs sessions started from both ends at once', async () => {
    const a = populated(200);
    const b = copyOf(a);
    a.apply({ op: 'increment', key: 'item-1', kind: 'x', by: 1, replica: 'r0' });
    b.apply({ op: 'increment', key: 'item-2', kind: 'x', by: 1, replica: 'r1' });
    const { initiator, responder } = pair(a, b);
    const [left, right] = await Promise.all([initiator.reconcile(), responder.reconcile()]);
    expect(a.encode()).toEqual(b.encode());
    expect(left.keysSent + right.keysSent).toBeGreaterThan(0);
    expect(initiator.stats.rejected + responder.stats.rejected).toBe(0);
  });

  it('sends back the key a push names as its counterpart when that is another key', async () => {
    // Two keys that the initiator might pair by tag; the responder must still send its own.
    const state = new CrdtSignalState();
    state.apply({ op: 'increment', key: 'mine', kind: 'c', by: 1, replica: 'r1' });
    const { raw, received } = withRawPeer(state, { leafSize: 8 });
    // Round 0: claim every child differs, so the responder lists its entry.
    raw.send(probeBytes(1, 0, { probes: [{ depth: 0, prefix: 0, mask: 0xffff, digests: new Uint32Array(32).fill(7) }] }));
    await settle();
    const first = received[0];
    if (first?.type !== 'reply') throw new Error('expected a reply');
    // Every child was listed (all differ, all small); one of them holds our entity.
    expect(first.results[0]!.listings).toHaveLength(16);
    const listing = first.results[0]!.listings.find((l) => l.tags.length > 0)!;
    expect(listing.tags).toHaveLength(1);
    // Round 1: push another key, naming the listed digest as its counterpart.
    const other = new CrdtSignalState();
    other.apply({ op: 'increment', key: 'theirs', kind: 'c', by: 1, replica: 'r2' });
    const enc = new Encoder();
    other.entityObject('theirs')!.writeTo(enc, 'theirs');
    raw.send(probeBytes(1, 1, { pushes: [{ counterpart: [listing.digests[0]!, listing.digests[1]!], record: enc.toBytes() }] }));
    await settle();
    const second = received[1];
    if (second?.type !== 'reply') throw new Error('expected a reply');
    expect(state.has('theirs')).toBe(true);
    expect(second.records.map((r) => new TextDecoder().decode(r.subarray(1, 1 + r[0]!)))).toEqual(['mine']);
  });

  it('as initiator, refuses replies that do not fit its probes and fails fast on a refusal', async () => {
    const state = populated(3);
    const { engine, raw, received } = withRawPeer(state);
    const running = engine.reconcile();
    await settle();
    const probe = received[0];
    if (probe?.type !== 'probe') throw new Error('expected a probe');
    const mask = probe.probes[0]!.mask;
    const emptyChild = [...Array(16).keys()].find((c) => (mask & (1 << c)) === 0)!;
    const reply = (over: Partial<ReplyMessage>) =>
      encodeReconcileMessage({
        type: 'reply',
        session: probe.session,
        round: 0,
        maxMessageBytes: 4096,
        results: [],
        records: [],
        pending: 0,
        skipped: 0,
        ...over,
      });
    const result = { expandMask: 0, leafMask: 0, listMask: 0, listings: [] };
    // Expands a child we have nothing under; answers two probes out of one; lists a leaf we have nothing under.
    raw.send(reply({ results: [{ ...result, expandMask: 1 << emptyChild }] }));
    raw.send(reply({ results: [result, result] }));
    raw.send(
      reply({
        results: [
          {
            ...result,
            leafMask: 1 << emptyChild,
            listMask: 1 << emptyChild,
            listings: [{ tags: new Uint32Array(), digests: new Uint32Array() }],
          },
        ],
      }),
    );
    // A reply for another round or session is a duplicate, not an error.
    raw.send(reply({ round: 7 }));
    await settle();
    expect(engine.stats.rejectedByCode).toEqual({ MalformedMessage: 3 });
    expect(engine.stats.duplicates).toBe(1);
    raw.send(encodeReconcileMessage({ type: 'refused', session: probe.session, round: 0, reason: 1 }));
    await expect(running).rejects.toThrow(code('Timeout'));

    const next = engine.reconcile();
    await settle();
    const second = received.at(-1)!;
    raw.send(encodeReconcileMessage({ type: 'refused', session: second.session, round: 0, reason: 3 }));
    await expect(next).rejects.toThrow(code('PayloadTooLarge'));
  });

  it('refuses entities stamped too far in the future, merging none of them, on either side', async () => {
    const wall = WALL;
    const future = hlcFromParts(wall + 3_600_000, 0);

    // Our entities are from the future: the peer refuses the whole push.
    const lenient = () => new HLC({ now: () => wall, maxDriftMs: Infinity });
    const a = populated(40, 'r0', lenient());
    a.apply({ op: 'set', key: 'item-3', field: 'label', value: 'from the future', hlc: future, replica: 'r9' });
    const b = new CrdtSignalState({ clock: new HLC({ now: () => wall }) });
    const first = pair(a, b);
    await expect(first.initiator.reconcile()).rejects.toThrow(code('ClockDrift'));
    expect(b.size).toBe(0);
    expect(first.responder.stats.rejectedByCode.ClockDrift).toBe(1);

    // The peer's entities are from the future: we refuse its reply.
    const c = new CrdtSignalState({ clock: new HLC({ now: () => wall }) });
    const d = populated(40, 'r0', lenient());
    d.apply({ op: 'set', key: 'item-3', field: 'label', value: 'from the future', hlc: future, replica: 'r9' });
    const second = pair(c, d, { maxMessageBytes: 1 << 20 });
    await expect(second.initiator.reconcile()).rejects.toThrow(code('ClockDrift'));
    expect(c.size).toBe(0);
    expect(second.initiator.stats.rejectedByCode.ClockDrift).toBe(1);
  });

  it('skips an entity too large for any message, counts it, and reconciles the rest', async () => {
    const a = populated(50);
    a.apply({ op: 'set', key: 'huge', field: 'blob', value: new Uint8Array(10_000), hlc: 1n, replica: 'r0' });
    const b = new CrdtSignalState({ clock: new HLC({ now: () => WALL }) });
    const { initiator } = pair(a, b, { maxMessageBytes: 4096 });
    const report = await initiator.reconcile();
    expect(report.keysSkipped).toBe(1);
    expect(b.size).toBe(50);
    expect(b.has('huge')).toBe(false);
  });

  it('fails a session in flight with Closed, and refuses new ones', async () => {
    const time = virtualTime();
    const link = new SimLink(time, prng(3));
    link.faults.partitioned = true;
    const engine = new ReconciliationEngine({ state: populated(5), channel: link.ends[0], clock: time }, blake3);
    const running = engine.reconcile();
    await settle();
    engine.close();
    await expect(running).rejects.toThrow(code('Closed'));
    await expect(engine.reconcile()).rejects.toThrow(code('Closed'));
  });

  it('validates its options', () => {
    const [channel] = createInMemoryChannelPair();
    const state = new CrdtSignalState();
    expect(() => new ReconciliationEngine({ state, channel, maxMessageBytes: 1000 }, blake3)).toThrow(code('InvalidArgument'));
    expect(() => new ReconciliationEngine({ state, channel, leafSize: 0 }, blake3)).toThrow(code('InvalidArgument'));
    expect(() => new ReconciliationEngine({ state, channel, retryTimeoutMs: NaN }, blake3)).toThrow(code('InvalidArgument'));
  });

  it('evicts the least recently active responder session beyond maxSessions', async () => {
    const state = populated(10);
    const { engine, raw, received } = withRawPeer(state, { maxSessions: 2 });
    const start = (session: number) => raw.send(probeBytes(session, 0));
    start(1);
    start(2);
    start(3);
    raw.send(probeBytes(1, 1));
    raw.send(probeBytes(3, 1));
    await settle();
    expect(engine.stats.sessionsExpired).toBe(1);
    // Session 1 was evicted: its next round is refused, so its initiator learns at once. Session 3 carries on.
    expect(received.filter((m) => m.session === 1).map((m) => m.type)).toEqual(['reply', 'refused']);
    expect(received.filter((m) => m.session === 3).map((m) => m.type)).toEqual(['reply', 'reply']);
  });
});
