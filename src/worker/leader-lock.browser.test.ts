import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.js';
import { shardChannels } from './channels.js';
import { LeaderLock } from './leader-lock.js';
import type { ShardSlot } from './shard-slot.js';

// LeaderLock on the real Web Locks of Chromium, with a fake shard worker: a grant counts its term
// (an await) before the tab holds the lock, and another tab may take the lock meanwhile.

const db = `leader-lock-${Math.random().toString(36).slice(2)}`;
const lockName = shardChannels(db, 0).lock;
// One per test: an aborted signal refuses every later request.
let controller = new AbortController();
afterEach(() => {
  controller.abort();
  controller = new AbortController();
});

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await condition()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(await condition()).toBe(true);
}

function setup(shard = 0, options: { closed?: () => boolean; leading?: Promise<void> } = {}) {
  const led: number[] = [];
  const slot = {
    shard,
    host: {
      becomeLeader: async (term: number) => {
        led.push(term);
        await options.leading;
        return { lastLsn: 0 };
      },
      becomeFollower: async () => undefined,
    },
    writer: { resend: () => undefined },
    lockHeld: false,
    releaseLock: undefined,
    restarts: 0,
    term: 0,
    restarting: undefined,
    stealing: false,
  } as unknown as ShardSlot;
  const terms: ((term: number) => void)[] = [];
  const lock = new LeaderLock({
    db,
    tabId: 'tab-a',
    slots: [slot],
    clock: systemClock,
    signal: controller.signal,
    closed: options.closed ?? (() => false),
    transfer: (value) => value,
    takeTerm: () => new Promise<number>((resolve) => terms.push(resolve)),
  });
  return { slot, lock, led, terms };
}

/** Takes the lock from whoever holds it, as another tab does; resolves with the function that lets it go. */
async function held(name: string): Promise<boolean> {
  return (await navigator.locks.query()).held?.some((l) => l.name === name) ?? false;
}

async function stealFromOtherTab(): Promise<() => void> {
  let release: (() => void) | undefined;
  void navigator.locks.request(lockName, { steal: true }, () => new Promise<void>((resolve) => (release = resolve)));
  await until(() => release !== undefined);
  return release!;
}

describe('LeaderLock', () => {
  it('a grant taken by another tab while it counts its term neither holds nor leads; it queues again and leads at its next grant', async () => {
    const { slot, lock, led, terms } = setup();
    lock.request(slot, false);
    await until(() => terms.length === 1);
    expect(slot.stealing, 'a grant counting its term is not to be stolen by its own tab').toBe(true);
    const release = await stealFromOtherTab();
    terms[0]!(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(slot.lockHeld).toBe(false);
    expect(slot.stealing).toBe(false);
    expect(led).toEqual([]);
    // It queued again: the other tab lets go, and it is granted the lock, with a new term.
    expect((await navigator.locks.query()).pending?.some((l) => l.name === lockName)).toBe(true);
    release();
    await until(() => terms.length === 2);
    terms[1]!(2);
    await until(() => slot.lockHeld);
    await until(() => led.length === 1);
    expect(led).toEqual([2]);
    expect(slot.term).toBe(2);
    slot.releaseLock?.();
  });

  it('a grant made while the worker starts counts its term then, and leads only once the worker is up', async () => {
    const { slot, lock, led, terms } = setup(1);
    let up!: () => void;
    lock.request(slot, false, new Promise<void>((resolve) => (up = resolve)));
    await until(() => terms.length === 1);
    terms[0]!(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(slot.lockHeld).toBe(false);
    expect(led).toEqual([]);
    up();
    await until(() => led.length === 1);
    expect(slot.lockHeld).toBe(true);
    expect(slot.term).toBe(1);
    slot.releaseLock?.();
  });

  it('a grant whose worker failed to start gives the lock back, neither held nor led', async () => {
    const { slot, lock, led, terms } = setup(2);
    let failed!: (error: Error) => void;
    lock.request(slot, false, new Promise<void>((_, reject) => (failed = reject)));
    await until(() => terms.length === 1);
    terms[0]!(1);
    failed(new Error('the worker did not start'));
    await until(async () => !(await held(shardChannels(db, 2).lock)));
    expect(slot.lockHeld).toBe(false);
    expect(slot.stealing).toBe(false);
    expect(led).toEqual([]);
    expect((await navigator.locks.query()).pending?.some((l) => l.name === shardChannels(db, 2).lock)).toBe(false);
  });

  it('a tab closed while its worker takes the lead lets go of the lock once the lead returns', async () => {
    let closed = false;
    let leading!: () => void;
    const { slot, lock, led, terms } = setup(3, { closed: () => closed, leading: new Promise<void>((resolve) => (leading = resolve)) });
    lock.request(slot, false);
    await until(() => terms.length === 1);
    terms[0]!(1);
    await until(() => led.length === 1);
    closed = true;
    slot.releaseLock?.(); // what the close does: nothing to release yet
    leading();
    await until(async () => !(await held(shardChannels(db, 3).lock)));
  });

  it('a tab closed while its worker takes the lead lets go of the lock at once, though the lead never returns', async () => {
    // What a close does to a worker in becomeLeader: terminates it, and the call is never answered.
    let closed = false;
    const { slot, lock, led, terms } = setup(4, { closed: () => closed, leading: new Promise<void>(() => undefined) });
    lock.request(slot, false);
    await until(() => terms.length === 1);
    terms[0]!(1);
    await until(() => led.length === 1);
    closed = true;
    controller.abort();
    await until(async () => !(await held(shardChannels(db, 4).lock)));
  });
});
