import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.js';
import { shardChannels } from './channels.js';
import { LeaderLock } from './leader-lock.js';
import type { ShardSlot } from './shard-slot.js';

// LeaderLock on the real Web Locks of Chromium, with a fake shard worker: a grant counts its term
// (an await) before the tab holds the lock, and another tab may take the lock meanwhile.

const db = `leader-lock-${Math.random().toString(36).slice(2)}`;
const lockName = shardChannels(db, 0).lock;
const controller = new AbortController();
afterEach(() => controller.abort());

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await condition()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(await condition()).toBe(true);
}

function setup() {
  const led: number[] = [];
  const slot = {
    shard: 0,
    host: { becomeLeader: async (term: number) => (led.push(term), { lastLsn: 0 }), becomeFollower: async () => undefined },
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
    closed: () => false,
    transfer: (value) => value,
    takeTerm: () => new Promise<number>((resolve) => terms.push(resolve)),
  });
  return { slot, lock, led, terms };
}

/** Takes the lock from whoever holds it, as another tab does; resolves with the function that lets it go. */
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
});
