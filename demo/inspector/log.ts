/** The page's log: lines, errors with their causes, uncaught failures. */
import { el } from '../dom.js';
import { LOG_LINES, ui } from './page.js';

let lastLogText = '';
let lastLogRepeats = 1;

/** Adds a line to the page's log; a line equal to the previous one bumps its count instead. */
export function logLine(text: string, error = false): void {
  const first = ui.log.firstElementChild;
  if (text === lastLogText && first) {
    lastLogRepeats += 1;
    first.textContent = `${new Date().toLocaleTimeString()} ${text} (×${lastLogRepeats})`;
    return;
  }
  lastLogText = text;
  lastLogRepeats = 1;
  ui.log.prepend(el('li', error ? { class: 'error' } : {}, `${new Date().toLocaleTimeString()} ${text}`));
  while (ui.log.children.length > LOG_LINES) ui.log.lastElementChild?.remove();
}

/** The message of an error and of its causes (a `TidalError`'s message starts with its code). */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 4; depth += 1) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← ');
}

/** Shows a failure in the page (and in the console, with its stack). */
export function reportError(context: string, error: unknown): void {
  logLine(`${context}: ${describeError(error)}`, true);
  console.error(context, error);
}
