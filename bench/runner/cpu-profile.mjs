// CPU profiles of a tab's threads (`npm run bench -- peers --profile`): what
// a CDP `Profiler.stop` returned, summarized per thread as the functions
// with the most self time (samples whose top frame is the function) and
// the most total time (samples with the function anywhere on the stack,
// counted once per sample however often it recurses).
//
//   const text = formatSummary('writer page', summarizeProfile(profile));
//
// Every sample counts as one sampling interval (the median gap between
// samples), not as the gap to the next sample: on a loaded machine a thread
// that is descheduled takes no samples, and the one it takes on resuming
// would otherwise carry the whole wait, charged to whatever it was doing
// when the scheduler took the core away (often a postMessage or a timer
// call, which wake other threads). Counting samples measures CPU time.

const IDLE = '(idle)';

/** `callFrame` → one line naming the function and where it is (origin and query dropped). */
function frameName({ functionName, url, lineNumber }) {
  const name = functionName || '(anonymous)';
  if (!url) return name;
  let where = url;
  try {
    const parsed = new URL(url);
    where = parsed.pathname.replace(/^\/node_modules\/\.vite\/deps\//, 'deps/');
  } catch {
    // not a URL (a native frame): keep it as it is
  }
  return `${name} ${where}:${lineNumber + 1}`;
}

/**
 * The time a profile spent per function.
 * @returns {{ ms: number, busyMs: number, samples: number, self: [string, number][], total: [string, number][] }}
 *   `ms` the profile's span, `busyMs` its non-idle samples times the sampling interval, `self`/`total` [function, ms] by time, largest first
 */
export function summarizeProfile(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const span = (profile.endTime - profile.startTime) / 1000;
  const gaps = deltas.slice(1).sort((a, b) => a - b);
  const intervalMs = gaps.length > 0 ? gaps[gaps.length >> 1] / 1000 : 0;

  const self = new Map();
  const total = new Map();
  const stacks = new Map(); // node id → the distinct function names on its stack
  const stackOf = (id) => {
    let names = stacks.get(id);
    if (names !== undefined) return names;
    const set = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) set.add(frameName(nodes.get(at).callFrame));
    set.delete('(root)');
    names = [...set];
    stacks.set(id, names);
    return names;
  };
  let idleMs = 0;
  for (let i = 0; i < samples.length; i++) {
    const ms = intervalMs;
    const name = frameName(nodes.get(samples[i]).callFrame);
    if (name === IDLE) {
      idleMs += ms;
      continue;
    }
    self.set(name, (self.get(name) ?? 0) + ms);
    for (const f of stackOf(samples[i])) total.set(f, (total.get(f) ?? 0) + ms);
  }
  const byTime = (map) => [...map].sort((a, b) => b[1] - a[1]);
  const busyMs = samples.length * intervalMs - idleMs;
  return { ms: span, busyMs, samples: samples.length, self: byTime(self), total: byTime(total) };
}

/** A thread's summary as text: its busy time, then the top `top` functions by self and by total time. */
export function formatSummary(label, summary, top = 15) {
  const lines = [`== ${label}: busy ${summary.busyMs.toFixed(0)} ms of ${summary.ms.toFixed(0)} ms (${summary.samples} samples)`];
  const rows = (title, list) => {
    lines.push(`  ${title}`);
    for (const [name, ms] of list.slice(0, top)) {
      const share = summary.busyMs > 0 ? (100 * ms) / summary.busyMs : 0;
      lines.push(`    ${ms.toFixed(1).padStart(8)} ms ${share.toFixed(1).padStart(5)}%  ${name}`);
    }
  };
  rows('self time (% of busy)', summary.self);
  rows('total time (% of busy)', summary.total);
  return lines.join('\n');
}
