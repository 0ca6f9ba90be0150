// The soak's schedules: from a seed, the whole plan of one run, so that a
// failing seed replays from its number alone. Pure (no browser, no clock).
//
//     soakSchedule(17) // { seed: 17, shards: 2, tabs: 2, keys: 9, steps: [{ gapMs: 240, action: 'kill', tab: 1, shard: 0 }, ...] }
//
// A run opens `tabs` tabs, each writing continuously, then for each step
// lets the tabs write for `gapMs` and does the step's `action`:
// - `open`: a new tab (at most 3 live); `close` (at least 1 stays), `reload`: tab `tab`;
// - `kill`: terminates the worker of `shard` in tab `tab`; `hang`: busy-loops it for `ms`;
// - `corrupt` / `drop`: the next payload the leader of `shard` ships is damaged / lost.
// `tab` indexes the tabs live at that step, in the order they were opened.

/** mulberry32, as src/common/random.ts (this file is plain JavaScript, run by Node without a build). */
export function mulberry32(seed) {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_TABS = 3;
const SHARDS = 2;
/** Action weights; `open` and `close` only where the tab count allows. */
const WEIGHTS = { reload: 1.5, kill: 4, hang: 3, corrupt: 3, drop: 3, open: 1, close: 1 };

/** The plan of seed `seed` (a positive safe integer). */
export function soakSchedule(seed) {
  if (!Number.isSafeInteger(seed) || seed < 1) throw new Error(`a soak seed is a positive integer, got ${seed}`);
  const random = mulberry32(seed);
  const pick = (n) => Math.floor(random() * n);
  const between = (lo, hi) => lo + pick(hi - lo + 1);
  const tabs = 2;
  const schedule = { seed, shards: SHARDS, tabs, keys: between(3, 16), steps: [] };
  let live = tabs;
  const count = between(3, 6);
  for (let i = 0; i < count; i++) {
    const allowed = Object.entries(WEIGHTS).filter(([action]) =>
      action === 'open' ? live < MAX_TABS : action === 'close' ? live > 1 : true,
    );
    let roll = random() * allowed.reduce((sum, [, weight]) => sum + weight, 0);
    const [action] = allowed.find(([, weight]) => (roll -= weight) < 0) ?? allowed[allowed.length - 1];
    const step = { gapMs: between(50, 400), action };
    if (action !== 'open') step.tab = pick(live);
    if (['kill', 'hang', 'corrupt', 'drop'].includes(action)) step.shard = pick(SHARDS);
    if (action === 'hang') step.ms = between(100, 2000); // past 1500 ms the other tab takes the lead
    if (action === 'open') live++;
    if (action === 'close') live--;
    if (action === 'corrupt' || action === 'drop') delete step.tab; // done by whichever tab leads the shard
    schedule.steps.push(step);
  }
  return schedule;
}

/** One line per step, for a failure report. */
export function describeSchedule(schedule) {
  const head = `seed ${schedule.seed}: ${schedule.tabs} tab(s), ${schedule.shards} shards, keys k:00..k:${String(schedule.keys - 1).padStart(2, '0')}`;
  const steps = schedule.steps.map((s, i) => {
    const where = [s.tab === undefined ? '' : `tab ${s.tab}`, s.shard === undefined ? '' : `shard ${s.shard}`, s.ms ? `${s.ms} ms` : '']
      .filter(Boolean)
      .join(', ');
    return `  ${i + 1}. after ${s.gapMs} ms of writes: ${s.action}${where ? ` (${where})` : ''}`;
  });
  return [head, ...steps].join('\n');
}
