/** Messages shown where things happen: progress, success and errors, each in its own place in the page. */
import type { Progress } from '../handlers/index.js';

export type MessageKind = 'progress' | 'ok' | 'error';

export function show(target: HTMLElement, kind: MessageKind, text: string): void {
  target.className = `message ${kind}`;
  target.textContent = text;
}

export function clear(target: HTMLElement): void {
  target.className = 'message';
  target.textContent = '';
}

/** A failure in words: a TidalError's message starts with its code; the page shows what follows. */
export function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[A-Z][A-Za-z]+: /, '');
}

export function progressText(progress: Progress): string {
  const where = progress.subject.startsWith('file:') ? progress.subject.slice(5) : progress.subject;
  switch (progress.phase) {
    case 'fetching': {
      const amount =
        progress.bytes === undefined
          ? ''
          : ` — ${formatBytes(progress.bytes)}${progress.total ? ` of ${formatBytes(progress.total)}` : ''}`;
      return `Fetching ${where}${amount}…`;
    }
    case 'parsing':
      return `Parsing ${where}: ${progress.items ?? 0} items…`;
    case 'storing':
      return `Storing ${progress.items ?? 0} items of ${where}…`;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** "3 h ago", "2 d ago", or a date past a month. */
export function ago(time: number, now: number): string {
  const minutes = Math.round((now - time) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 31) return `${days} d ago`;
  return new Date(time).toLocaleDateString();
}
