// bench/results/targets.svg: every target of bench/targets.mjs as a bar of
// how far the latest figure is from it, so that a person sees at a glance
// which claims hold and by how much the others miss. Written from
// latest.json after every run (a filtered run merges into the previous
// figures, so each row says when its figure was measured).
//
// A bar's length is the share of the target reached: value / bound for an
// "at least" target, bound / value for an "at most" one, so 1 is the target
// line in both cases and a longer bar is always better. The axis is
// logarithmic (0.01 to 10): a miss by 5x and a miss by 50x must both show.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { esc, formatValue } from './chart.mjs';

const WIDTH = 980;
const LABEL_W = 400;
const NOTE_W = 230;
const BAR_H = 15;
const GAP = 6;
const LO = 0.01;
const HI = 10;

/** The share of its target a ratio row reaches (1 = met exactly), or undefined when it has no value. */
export function shareOfTarget(row) {
  if (typeof row.value !== 'number' || !Number.isFinite(row.value)) return undefined;
  if (row.atLeast !== undefined) return row.atLeast > 0 ? row.value / row.atLeast : undefined;
  if (row.value <= 0) return HI;
  return row.atMost / row.value;
}

/** The chart as SVG text, or undefined when `results` evaluated no target. */
export function targetsChart(results) {
  const rows = (results.ratios ?? []).map((row) => ({ row, share: shareOfTarget(row) })).filter((r) => r.share !== undefined);
  if (rows.length === 0) return undefined;
  const plotW = WIDTH - LABEL_W - NOTE_W - 20;
  const x = (share) =>
    LABEL_W + (plotW * (Math.log10(Math.min(HI, Math.max(LO, share))) - Math.log10(LO))) / (Math.log10(HI) - Math.log10(LO));
  const top = 44;
  const bottom = top + rows.length * (BAR_H + GAP);
  const out = [];
  for (const tick of [0.01, 0.1, 1, 10]) {
    out.push(`<line x1="${x(tick)}" y1="${top - 4}" x2="${x(tick)}" y2="${bottom}" class="${tick === 1 ? 'goal' : 'grid'}"/>`);
    out.push(`<text x="${x(tick)}" y="${bottom + 12}" class="tick">${tick === 1 ? 'target' : `${tick}×`}</text>`);
  }
  let y = top;
  for (const { row, share } of rows) {
    const met = share >= 1;
    const wanted = row.atLeast === undefined ? `≤ ${row.atMost}` : `≥ ${row.atLeast}`;
    const when = (results.measured?.[row.metric]?.date ?? '').slice(5, 16).replace('T', ' ');
    out.push(`<text x="${LABEL_W - 6}" y="${y + BAR_H - 3}" class="label">${esc(row.name)}</text>`);
    out.push(
      `<rect x="${x(LO)}" y="${y}" width="${Math.max(1, x(share) - x(LO)).toFixed(1)}" height="${BAR_H}" class="${met ? 'met' : 'miss'}"/>`,
    );
    out.push(
      `<text x="${WIDTH - NOTE_W}" y="${y + BAR_H - 3}" class="note">${esc(`${formatValue(row.value)} (${wanted}) · ${met ? 'met' : 'missed'} · ${when}`)}</text>`,
    );
    y += BAR_H + GAP;
  }
  const m = results.machine;
  const foot = [m ? `${m.cpu}, ${m.cores} logical cores, ${m.memoryGiB} GiB, ${m.os}` : 'machine unknown', results.browser ?? ''].join(
    ' · ',
  );
  const height = bottom + 52;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">
<style>
.head { font-size: 15px; font-weight: 600; fill: #111; }
.sub { font-size: 11px; fill: #444; }
.label { font-size: 11px; fill: #222; text-anchor: end; }
.note { font-size: 10.5px; fill: #222; }
.tick { font-size: 9px; fill: #666; text-anchor: middle; }
.grid { stroke: #ddd; stroke-width: 1; }
.goal { stroke: #111; stroke-width: 1.5; stroke-dasharray: 4 2; }
.met { fill: #15803d; }
.miss { fill: #dc2626; }
.foot { font-size: 10px; fill: #555; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" class="head">tidal's benchmark targets: how much of each the latest figure reaches</text>
<text x="10" y="34" class="sub">bar = value ÷ bound (at least) or bound ÷ value (at most), log scale; past the dashed line the target is met</text>
${out.join('\n')}
<text x="10" y="${height - 24}" class="foot">${esc(foot)}</text>
<text x="10" y="${height - 10}" class="foot">each ratio is of figures from one run; a row is dated (UTC) by the run that measured it</text>
</svg>
`;
}

/** Writes `dir`/targets.svg from `results`; returns its path, or undefined when no target was evaluated. */
export async function writeTargetsChart(dir, results) {
  const svg = targetsChart(results);
  if (svg === undefined) return undefined;
  const path = join(dir, 'targets.svg');
  await writeFile(path, svg);
  return path;
}
