// bench/results/peers.svg: the peers suite's figures as a chart a person
// can look at instead of reading numbers, generated from latest.json by
// every run that measured them, with the machine and browser they were
// taken on. No dependencies: the SVG is written by hand.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peerSystems } from '../targets.mjs';

const PANELS = {
  'replicated.events_per_s': { title: 'Replicated, writer tab → reader tab (events/s, higher is better)', log: true },
  'written.events_per_s': { title: 'Written locally (events/s, higher is better)', log: true },
  'wire.bytes_per_event': { title: 'Bytes on the wire per event (lower is better)', log: false },
  'reader.memory_growth.mb': { title: 'Reader tab memory growth, MB (lower is better)', log: false },
  'writer.main_thread.us_per_write': { title: 'Writer tab main-thread time per write, µs (lower is better)', log: false },
  'cpu.us_per_event': { title: "Both tabs' CPU time per event (renderer processes, workers included), µs (lower is better)", log: false },
};

export const LABELS = {
  tidal_batched: 'tidal, batched API',
  tidal_per_call: 'tidal, per call ×1,000',
  tidal_batched_awaited: 'tidal, batched, each awaited',
  yjs_tx1000: 'Yjs, tx of 1,000',
  yjs_per_event: 'Yjs, per event',
  tinybase_tx1000: 'TinyBase, tx of 1,000',
  tinybase_per_event: 'TinyBase, per event',
  raw_json1000: 'raw JSON, 1,000/msg',
};

const COLORS = { tidal: '#1f6feb', yjs: '#d97706', tinybase: '#15803d', raw: '#6b7280' };
const color = (system) => COLORS[system.split('_')[0]] ?? '#6b7280';

const WIDTH = 760;
const LABEL_W = 170;
const VALUE_W = 90;
const BAR_H = 16;
const GAP = 5;
export const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `v` for a label: whole numbers with thousands separators above 100, else 3 significant digits. */
export function formatValue(v) {
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
}

function panel(figure, rows, top) {
  const { title, log } = PANELS[figure];
  const plotW = WIDTH - LABEL_W - VALUE_W - 20;
  const max = Math.max(...rows.map((r) => r.value));
  const min = Math.min(...rows.map((r) => r.value).filter((v) => v > 0));
  const lo = log ? 10 ** Math.floor(Math.log10(min)) : 0;
  const hi = log ? 10 ** Math.ceil(Math.log10(max)) : max;
  const scale = (v) => {
    if (v <= 0) return 0;
    if (log) return (plotW * (Math.log10(v) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo) || 1);
    return (plotW * v) / (hi || 1);
  };
  const out = [`<text x="10" y="${top + 14}" class="title">${esc(title)}${log ? ' — log scale' : ''}</text>`];
  let y = top + 24;
  if (log) {
    for (let tick = lo; tick <= hi * 1.0001; tick *= 10) {
      const x = LABEL_W + scale(tick);
      out.push(`<line x1="${x}" y1="${y}" x2="${x}" y2="${y + rows.length * (BAR_H + GAP)}" class="grid"/>`);
      out.push(`<text x="${x}" y="${y + rows.length * (BAR_H + GAP) + 10}" class="tick">${esc(formatValue(tick))}</text>`);
    }
  }
  for (const { system, value } of rows) {
    out.push(`<text x="${LABEL_W - 6}" y="${y + BAR_H - 4}" class="label">${esc(LABELS[system] ?? system)}</text>`);
    out.push(`<rect x="${LABEL_W}" y="${y}" width="${Math.max(1, scale(value)).toFixed(1)}" height="${BAR_H}" fill="${color(system)}"/>`);
    out.push(`<text x="${LABEL_W + Math.max(1, scale(value)) + 4}" y="${y + BAR_H - 4}" class="value">${esc(formatValue(value))}</text>`);
    y += BAR_H + GAP;
  }
  return { svg: out.join('\n'), bottom: y + (log ? 16 : 6) };
}

/** When the peers figures in `results` were measured (the run that measured them). */
export function peersDate(results) {
  const dates = Object.entries(results.measured ?? {})
    .filter(([name]) => name.startsWith('peers.'))
    .map(([, m]) => m.date);
  return dates.sort().at(-1) ?? results.date ?? '';
}

/** The chart as SVG text, or undefined when `results` holds no peers figures. */
export function peersChart(results) {
  const metrics = results.metrics ?? {};
  const panels = [];
  let top = 40;
  for (const figure of Object.keys(PANELS)) {
    const rows = peerSystems
      .map((system) => ({ system, value: metrics[`peers.${system}.${figure}`]?.value }))
      .filter((r) => typeof r.value === 'number');
    if (rows.length === 0) continue;
    const { svg, bottom } = panel(figure, rows, top);
    panels.push(svg);
    top = bottom + 14;
  }
  if (panels.length === 0) return undefined;
  const m = results.machine;
  const taken = [
    m
      ? `${m.cpu}, ${m.cores} logical cores, ${m.memoryGiB} GiB, ${m.os}${m.loadAverage === undefined ? '' : `, load ${m.loadAverage} at start`}`
      : 'machine unknown',
    results.browser ?? '',
    `${peersDate(results).slice(0, 16).replace('T', ' ')} UTC`,
  ].join(' · ');
  const height = top + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">
<style>
.head { font-size: 15px; font-weight: 600; fill: #111; }
.title { font-size: 12px; font-weight: 600; fill: #222; }
.label { font-size: 11px; fill: #222; text-anchor: end; }
.value { font-size: 11px; fill: #222; }
.tick { font-size: 9px; fill: #666; text-anchor: middle; }
.grid { stroke: #ddd; stroke-width: 1; }
.foot { font-size: 10px; fill: #555; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" class="head">tidal and its peers: 100k signal events, writer tab → reader tab (median of 3 runs)</text>
${panels.join('\n')}
<text x="10" y="${height - 10}" class="foot">${esc(taken)}</text>
</svg>
`;
}

/** True when the run that produced `results` measured the peers suite. */
export function measuredPeersNow(results) {
  return Object.entries(results.measured ?? {}).some(([name, m]) => name.startsWith('peers.') && m.date === results.date);
}

/**
 * Writes `dir`/peers.svg from `results` when this run measured the peers
 * suite (a filtered run without it leaves the chart of the run that did);
 * returns its path, or undefined.
 */
export async function writePeersChart(dir, results) {
  if (!measuredPeersNow(results)) return undefined;
  const svg = peersChart(results);
  if (svg === undefined) return undefined;
  const path = join(dir, 'peers.svg');
  await writeFile(path, svg);
  return path;
}
