/** Numbers, values and entities as the inspector shows them, and cell updates. */
import type { Entity, Value } from '../../src/index.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function formatValue(value: Value): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `bytes[${value.length}]`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** An entity in one line: counters, fields, then sets (with their sizes). */
export function describeEntity(entity: Entity | undefined): string {
  if (entity === undefined) return '(none)';
  const parts = [
    ...Object.entries(entity.counters).map(([kind, n]) => `${kind}=${n}`),
    ...Object.entries(entity.fields).map(([field, v]) => `${field}=${formatValue(v)}`),
    ...Object.entries(entity.sets).map(([name, members]) => `${name}{${members.length}}`),
  ];
  return clip(parts.join(' '), 90);
}

/** A tab id short enough for a table cell (the full id is in the cell's title). */
export function shortTab(tab: string): string {
  return tab.length <= 10 ? tab : `${tab.slice(0, 8)}…`;
}

export function setText(cell: HTMLElement, text: string): void {
  if (cell.textContent !== text) cell.textContent = text;
}

/** Flashes a cell whose counter went up. */
export function bump(cell: HTMLElement): void {
  cell.classList.add('bumped');
  setTimeout(() => cell.classList.remove('bumped'), 300);
}
