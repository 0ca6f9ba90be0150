/**
 * The sources panel's chart: one row per source, its posterior's mean as a
 * dot and its central credible interval as a bar on a 0–100% axis, with the
 * figures in the row's tooltip. A pure function returning SVG text, so the
 * page sets it as markup and tests read it; every name is XML-escaped.
 *
 *     panel.innerHTML = posteriorChartSvg([{ label: 'Hacker News', posterior: { alpha: 4, beta: 12 } }]);
 */
import { summarizePosterior, type BetaPosterior } from './posterior.js';

/** One row of the chart. */
export interface ChartRow {
  /** The source's name as shown. */
  readonly label: string;
  readonly posterior: BetaPosterior;
}

/** Options of `posteriorChartSvg`. */
export interface ChartOptions {
  /** Total width in px. Default 360. */
  readonly width?: number;
  /** Height of one row in px. Default 22. */
  readonly rowHeight?: number;
  /** Width of the label column in px. Default 140 (names past 20 characters are cut with an ellipsis). */
  readonly labelWidth?: number;
  /** Credible interval mass. Default 0.95. */
  readonly level?: number;
}

/** SVG markup of the posteriors' means and credible intervals, rows in the order given. */
export function posteriorChartSvg(rows: readonly ChartRow[], options: ChartOptions = {}): string {
  const width = options.width ?? 360;
  const rowHeight = options.rowHeight ?? 22;
  const labelWidth = options.labelWidth ?? 140;
  const level = options.level ?? 0.95;
  const axisHeight = 18;
  const left = labelWidth + 8;
  const right = width - 18; // room for the "100%" tick label
  const x = (p: number) => (left + p * (right - left)).toFixed(1);
  const height = rows.length * rowHeight + axisHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="system-ui, sans-serif" font-size="11">`,
    `<title>Each source's chance that an item is clicked or liked: mean and ${Math.round(level * 100)}% credible interval</title>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${x(tick)}" y1="0" x2="${x(tick)}" y2="${height - axisHeight}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - 5}" text-anchor="middle" fill="#666">${Math.round(tick * 100)}%</text>`);
  }
  rows.forEach((row, i) => {
    const summary = summarizePosterior(row.posterior, level);
    const mid = i * rowHeight + rowHeight / 2;
    const tooltip =
      `${row.label}: mean ${(summary.mean * 100).toFixed(1)}%, ${Math.round(level * 100)}% interval ` +
      `${(summary.lower * 100).toFixed(1)}–${(summary.upper * 100).toFixed(1)}% (α ${row.posterior.alpha.toFixed(2)}, β ${row.posterior.beta.toFixed(2)})`;
    parts.push(`<g class="posterior"><title>${escapeXml(tooltip)}</title>`);
    parts.push(
      `<text x="${labelWidth}" y="${(mid + 4).toFixed(1)}" text-anchor="end" fill="#222">${escapeXml(truncate(row.label, 20))}</text>`,
    );
    parts.push(
      `<rect x="${x(summary.lower)}" y="${(mid - 3).toFixed(1)}" width="${(Number(x(summary.upper)) - Number(x(summary.lower))).toFixed(1)}" height="6" rx="3" fill="#8fb8de"/>`,
    );
    parts.push(`<circle cx="${x(summary.mean)}" cy="${mid.toFixed(1)}" r="4" fill="#1f5f99"/></g>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
