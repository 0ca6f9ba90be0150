// How the runner prints numbers and tables on the terminal.

/** A number as people read it: whole above 1000, else 4 significant digits. */
export const formatNumber = (v) => {
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return String(Number(v.toPrecision(4)));
};

/** Prints `rows` (arrays of strings) under `headers`, the first column left-aligned, the others right-aligned. */
export function printTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}
