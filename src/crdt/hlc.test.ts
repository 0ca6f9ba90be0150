import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HLC, HLC_MAX, compareStamps, hlcCounter, hlcFromParts, hlcWallMs, type HlcTimestamp } from './hlc.js';

const code = (c: string) => expect.objectContaining({ code: c });

describe('HLC', () => {
  it('packs 48 bits of milliseconds over 16 bits of counter', () => {
    const t = hlcFromParts(0x0123_4567_89ab, 0xcdef);
    expect(t).toBe(0x0123_4567_89ab_cdefn);
    expect(hlcWallMs(t)).toBe(0x0123_4567_89ab);
    expect(hlcCounter(t)).toBe(0xcdef);
    expect(() => hlcFromParts(2 ** 48, 0)).toThrow(code('InvalidArgument'));
    expect(() => hlcFromParts(1, 0x10000)).toThrow(code('InvalidArgument'));
    expect(() => hlcFromParts(-1, 0)).toThrow(code('InvalidArgument'));
  });

  it('follows the wall clock when it moves forward', () => {
    let wall = 1_000;
    const clock = new HLC({ now: () => wall });
    expect(clock.now()).toBe(hlcFromParts(1_000, 0));
    wall = 1_005;
    expect(clock.now()).toBe(hlcFromParts(1_005, 0));
  });

  it('stays strictly monotonic when the wall clock stands still or steps backwards', () => {
    let wall = 1_000;
    const clock = new HLC({ now: () => wall });
    const stamps: HlcTimestamp[] = [clock.now(), clock.now()];
    wall = 999;
    stamps.push(clock.now());
    wall = 10;
    stamps.push(clock.now());
    wall = 1_000;
    stamps.push(clock.now());
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! > stamps[i - 1]!).toBe(true);
    expect(stamps.map(hlcWallMs)).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(stamps.map(hlcCounter)).toEqual([0, 1, 2, 3, 4]);
  });

  it('carries a counter overflow into the milliseconds', () => {
    const wall = 1_000;
    const local = new HLC({ now: () => wall, initial: hlcFromParts(1_000, 0xffff) });
    expect(local.now()).toBe(hlcFromParts(1_001, 0));
    const receiver = new HLC({ now: () => wall });
    expect(receiver.receive(hlcFromParts(1_000, 0xffff))).toBe(hlcFromParts(1_001, 0));
  });

  it('orders a received timestamp after the remote one and after its own past', () => {
    let wall = 1_000;
    const clock = new HLC({ now: () => wall });
    clock.now();
    expect(clock.receive(hlcFromParts(1_500, 7))).toBe(hlcFromParts(1_500, 8));
    wall = 2_000;
    expect(clock.receive(hlcFromParts(1_500, 9))).toBe(hlcFromParts(2_000, 0));
  });

  it('refuses a remote timestamp more than maxDriftMs ahead, counts it, and does not move', () => {
    const wall = 100_000;
    const clock = new HLC({ now: () => wall });
    const before = clock.now();
    expect(() => clock.receive(hlcFromParts(wall + 60_001, 0))).toThrow(code('ClockDrift'));
    expect(clock.driftRefusals).toBe(1);
    expect(clock.last).toBe(before);
    expect(() => clock.receive(hlcFromParts(2 ** 48 - 1, 0xffff))).toThrow(code('ClockDrift'));
    expect(clock.driftRefusals).toBe(2);
    expect(clock.last).toBe(before);
    // Exactly at the limit is accepted.
    expect(clock.receive(hlcFromParts(wall + 60_000, 0))).toBe(hlcFromParts(wall + 60_000, 1));
    const strict = new HLC({ now: () => wall, maxDriftMs: 10 });
    expect(() => strict.receive(hlcFromParts(wall + 11, 0))).toThrow(code('ClockDrift'));
  });

  it('refuses malformed input with InvalidArgument', () => {
    let wall = 5;
    const clock = new HLC({ now: () => wall });
    for (const bad of [-1n, HLC_MAX + 1n, 5, '5', null, undefined]) {
      expect(() => clock.receive(bad as HlcTimestamp)).toThrow(code('InvalidArgument'));
    }
    for (const reading of [NaN, -1, Infinity, 2 ** 48]) {
      wall = reading;
      expect(() => clock.now()).toThrow(code('InvalidArgument'));
    }
    expect(() => new HLC({ maxDriftMs: -1 })).toThrow(code('InvalidArgument'));
    expect(() => new HLC({ maxDriftMs: NaN })).toThrow(code('InvalidArgument'));
    expect(() => new HLC({ initial: -1n })).toThrow(code('InvalidArgument'));
  });

  it('refuses to issue past 2^64-1', () => {
    const clock = new HLC({ now: () => 0, maxDriftMs: Infinity });
    expect(() => clock.receive(HLC_MAX)).toThrow(code('ClockDrift'));
    expect(clock.last).toBe(0n);
  });

  it('breaks ties between equal timestamps on the replica id', () => {
    const t = hlcFromParts(1, 1);
    expect(compareStamps(t, 'a', t, 'b')).toBeLessThan(0);
    expect(compareStamps(t, 'b', t, 'a')).toBeGreaterThan(0);
    expect(compareStamps(t, 'a', t, 'a')).toBe(0);
    expect(compareStamps(t + 1n, 'a', t, 'z')).toBeGreaterThan(0);
  });

  it('orders every event after the events that causally precede it, across replicas (seeded)', () => {
    // Replicas with skewed wall clocks that jitter backwards exchange
    // messages; each event records the stamps of everything that happened
    // before it (its own past and what it received), and must exceed them.
    type Step = { replica: number; kind: 'local' | 'send' | 'receive'; peer: number; tick: number };
    const stepArb = fc.record({
      replica: fc.nat({ max: 3 }),
      kind: fc.constantFrom<Step['kind']>('local', 'send', 'receive'),
      peer: fc.nat({ max: 3 }),
      tick: fc.integer({ min: -50, max: 50 }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5_000, max: 5_000 }), { minLength: 4, maxLength: 4 }),
        fc.array(stepArb, { maxLength: 200 }),
        (skews, steps) => {
          let wall = 1_000_000;
          const clocks = skews.map((skew) => new HLC({ now: () => wall + skew }));
          const latest: HlcTimestamp[] = clocks.map(() => 0n);
          const inbox: HlcTimestamp[][] = clocks.map(() => []);
          for (const step of steps) {
            wall += step.tick;
            const clock = clocks[step.replica]!;
            let stamp: HlcTimestamp;
            if (step.kind === 'receive') {
              const message = inbox[step.replica]!.shift();
              if (message === undefined) continue;
              stamp = clock.receive(message);
              expect(stamp > message).toBe(true);
            } else {
              stamp = clock.now();
              if (step.kind === 'send') inbox[step.peer]!.push(stamp);
            }
            expect(stamp > latest[step.replica]!).toBe(true);
            latest[step.replica] = stamp;
          }
          for (const c of clocks) expect(c.driftRefusals).toBe(0);
        },
      ),
      { seed: 0x41c, numRuns: 200 },
    );
  });
  it('reserves consecutive stamps above everything issued, and carries a long run into the milliseconds', () => {
    let wall = 1000;
    const clock = new HLC({ now: () => wall });
    const before = clock.now();
    const first = clock.reserve(3);
    expect(first).toBe(before + 1n);
    expect(clock.last).toBe(first + 2n);
    expect(clock.now()).toBe(first + 3n);
    wall = 2000;
    const run = clock.reserve(70_000); // more than 2^16 in one millisecond
    expect(run).toBe(2000n << 16n);
    expect(clock.now()).toBe(run + 70_000n);
    expect(() => clock.reserve(0)).toThrow(/positive count/);
  });
});
