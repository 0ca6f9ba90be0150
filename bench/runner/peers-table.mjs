// The peers suite's figures as a Markdown table, written into
// bench/README.md between the `<!-- peers:begin -->` and `<!-- peers:end -->`
// markers by every run that measured them, so that the README always shows
// the figures of the chart beside it (bench/results/peers.svg).

import { readFile, writeFile } from 'node:fs/promises';
import { LABELS, measuredPeersNow, peersDate } from './chart.mjs';
import { peerSystems } from '../targets.mjs';

const BEGIN = '<!-- peers:begin -->';
const END = '<!-- peers:end -->';

const whole = (v) => Math.round(v).toLocaleString('en-US');
const digits3 = (v) => String(Number(v.toPrecision(3)));

/** The table (and the targets' status) as Markdown, or undefined when `results` holds no peers figures. */
export function peersTable(results) {
  const metrics = results.metrics ?? {};
  const get = (system, figure) => metrics[`peers.${system}.${figure}`]?.value;
  const systems = peerSystems.filter((s) => get(s, 'replicated.events_per_s') !== undefined);
  if (systems.length === 0) return undefined;
  const cell = (v, format) => (v === undefined ? '—' : format(v));
  const ratio = (system, tidal) => {
    const a = get(system, 'replicated.events_per_s');
    const b = get(tidal, 'replicated.events_per_s');
    return a === undefined || b === undefined ? '—' : `${digits3(a / b)}×`;
  };
  const lines = [
    '| system | written events/s | replicated events/s | replicated vs tidal per call | replicated vs tidal batched | bytes on the wire / event | reader memory growth (MB) | writer main thread µs / write | both tabs’ CPU µs / event |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...systems.map(
      (s) =>
        `| ${LABELS[s] ?? s} | ${cell(get(s, 'written.events_per_s'), whole)} | ${cell(get(s, 'replicated.events_per_s'), whole)} | ${ratio(s, 'tidal_per_call')} | ${ratio(s, 'tidal_batched')} | ${cell(get(s, 'wire.bytes_per_event'), digits3)} | ${cell(get(s, 'reader.memory_growth.mb'), digits3)} | ${cell(get(s, 'writer.main_thread.us_per_write'), digits3)} | ${cell(get(s, 'cpu.us_per_event'), digits3)} |`,
    ),
  ];
  const targets = (results.ratios ?? []).filter((r) => r.metric.startsWith('peers.'));
  if (targets.length > 0) {
    lines.push('', '| target (same run) | value | wanted | |', '| --- | ---: | ---: | --- |');
    for (const r of targets) {
      const wanted = r.atLeast === undefined ? `≤ ${r.atMost}` : `≥ ${r.atLeast}`;
      lines.push(`| ${r.name} | ${r.value === null ? '—' : digits3(r.value)} | ${wanted} | ${r.note ?? (r.met ? 'met' : '**missed**')} |`);
    }
  }
  const m = results.machine;
  lines.push(
    '',
    `Run of ${peersDate(results).slice(0, 16).replace('T', ' ')} UTC on ${m ? `${m.cpu} (${m.cores} logical cores, ${m.memoryGiB} GiB, ${m.os}${m.loadAverage === undefined ? '' : `; load average ${m.loadAverage} when the run started, the machine being shared`})` : 'an unknown machine'}, ${results.browser ?? 'an unknown browser'}; medians of 3 runs, fresh tabs each. A system missing from the table was not measured in that run (see the suite's log).`,
  );
  return lines.join('\n');
}

/** Rewrites the marked section of `readmePath` from `results` when this run measured the peers; true if it did. */
export async function updateReadme(readmePath, results) {
  if (!measuredPeersNow(results)) return false;
  const table = peersTable(results);
  if (table === undefined) return false;
  const text = await readFile(readmePath, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) {
    console.warn(`bench: ${readmePath} has no ${BEGIN} … ${END} section; the peers table was not written there`);
    return false;
  }
  await writeFile(readmePath, `${text.slice(0, begin + BEGIN.length)}\n${table}\n${text.slice(end)}`);
  return true;
}
