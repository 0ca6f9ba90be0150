/**
 * The demo page: buttons that drive the WAL worker (`wal-demo.worker.ts`)
 * and a view of what it reports: segments, the last recovery report, the
 * newest events and a log of operations. Plain DOM; every text that comes
 * from the worker is set with `textContent`.
 *
 * Start it with `npm run dev` and open http://localhost:5173/demo/wal/
 * (linked from the database inspector at /demo/inspector/).
 */
import * as Comlink from 'comlink';
import { byId, el } from '../dom.js';
import type { RecoveryReport } from '../../src/wal/wal.js';
import { MAX_APPEND, type DemoResult, type DemoState } from './protocol.js';
import type { WalDemoWorker } from './wal-demo.worker.js';

const AUTO_APPEND_EVENTS = 50;
const AUTO_APPEND_EVERY_MS = 250;
const LOG_LINES = 30;

const ui = {
  count: byId<HTMLInputElement>('count'),
  appendN: byId<HTMLButtonElement>('append-n'),
  append1: byId<HTMLButtonElement>('append-1'),
  auto: byId<HTMLInputElement>('auto'),
  close: byId<HTMLButtonElement>('close'),
  reopen: byId<HTMLButtonElement>('reopen'),
  tear: byId<HTMLButtonElement>('tear'),
  corrupt: byId<HTMLButtonElement>('corrupt'),
  reset: byId<HTMLButtonElement>('reset'),
  status: byId('status'),
  segments: byId('segments'),
  quarantined: byId('quarantined'),
  report: byId('report'),
  recent: byId('recent'),
  log: byId('log'),
};
ui.count.max = String(MAX_APPEND);

const worker = new Worker(new URL('./wal-demo.worker.ts', import.meta.url), { type: 'module' });
const remote = Comlink.wrap<WalDemoWorker>(worker);
worker.addEventListener('error', (event) => logLine(`the worker failed: ${event.message}`, true));

let busy = false;
let current: DemoState | undefined;

const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
const range = (r: { first: number; last: number }): string => `${r.first}..${r.last}`;

function logLine(text: string, error = false): void {
  const time = new Date().toLocaleTimeString();
  ui.log.prepend(el('li', error ? { class: 'error' } : {}, `${time} ${text}`));
  while (ui.log.children.length > LOG_LINES) ui.log.lastElementChild?.remove();
}

function renderState(state: DemoState): void {
  current = state;
  const sealed = state.segments.filter((s) => s.sealed).length;
  ui.status.className = state.open ? '' : 'closed';
  ui.status.textContent = state.open
    ? `open · last LSN ${state.lastLsn} · ${state.segments.length} segments (${sealed} sealed)` +
      (state.missing.length > 0 ? ` · missing LSNs ${state.missing.map(range).join(', ')}` : '')
    : 'closed · press Reopen to recover and open the log';

  ui.segments.replaceChildren(
    ...state.segments.map((s) =>
      el(
        'tr',
        {},
        el('td', { class: 'name' }, s.name),
        el('td', { class: 'num' }, String(s.baseLsn)),
        el('td', { class: 'num' }, s.lastLsn < s.baseLsn ? '(empty)' : String(s.lastLsn)),
        el('td', {}, s.sealed ? 'sealed' : 'open'),
        el('td', { class: 'num' }, bytes(s.bytes)),
      ),
    ),
  );
  ui.quarantined.replaceChildren(
    ...(state.quarantined.length === 0
      ? []
      : [
          el('h2', {}, 'Quarantined files'),
          el('ul', {}, ...state.quarantined.map((q) => el('li', { class: 'mono' }, `${q.name} (${bytes(q.bytes)})`))),
        ]),
  );
  ui.recent.replaceChildren(
    ...(state.recent.length === 0
      ? [
          el(
            'li',
            { class: 'muted' },
            !state.open ? 'the log is closed' : state.lastLsn === 0 ? 'the log is empty' : 'the newest LSNs are missing (see the report)',
          ),
        ]
      : state.recent.map((e) => el('li', {}, `${e.lsn}  ${e.text}`))),
  );
}

function renderReport(report: RecoveryReport, ms: number): void {
  const facts: [string, string][] = [
    ['took', `${ms.toFixed(1)} ms`],
    ['segments', String(report.segments)],
    ['batches', String(report.batches)],
    ['events', String(report.events)],
    ['verified', bytes(report.bytes)],
    ['torn tail cut', bytes(report.bytesCut)],
    ['last LSN', String(report.lastLsn)],
  ];
  const issues =
    report.issues.length === 0
      ? [el('p', {}, 'no issues: every digest verified')]
      : [
          el(
            'ul',
            {},
            ...report.issues.map((issue) =>
              el(
                'li',
                { class: 'issue' },
                `${issue.code}: ${issue.message}`,
                ...(issue.quarantinedAs ? [el('br'), `kept as ${issue.quarantinedAs}`] : []),
              ),
            ),
          ),
        ];
  ui.report.className = '';
  ui.report.replaceChildren(
    el('table', {}, ...facts.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { class: 'num' }, v)))),
    ...issues,
  );
}

function updateButtons(): void {
  const open = current?.open === true;
  for (const button of [ui.appendN, ui.append1, ui.close, ui.tear, ui.corrupt]) button.disabled = busy || !open;
  ui.reopen.disabled = busy;
  ui.reset.disabled = busy;
}

/** Runs one worker call at a time and shows its outcome. */
async function perform(operation: () => Promise<DemoResult>, quiet = false): Promise<void> {
  if (busy) return;
  busy = true;
  updateButtons();
  try {
    const result = await operation();
    renderState(result.state);
    if (result.report) renderReport(result.report, result.ms);
    if (!quiet) logLine(result.message);
  } catch (error) {
    logLine(error instanceof Error ? error.message : String(error), true);
    ui.auto.checked = false;
  } finally {
    busy = false;
    updateButtons();
  }
}

function requestedCount(): number | undefined {
  const n = Number(ui.count.value);
  if (Number.isSafeInteger(n) && n >= 1 && n <= MAX_APPEND) return n;
  logLine(`append between 1 and ${MAX_APPEND} events`, true);
  return undefined;
}

ui.appendN.addEventListener('click', () => {
  const n = requestedCount();
  if (n !== undefined) void perform(() => remote.append(n));
});
ui.append1.addEventListener('click', () => void perform(() => remote.append(1)));
ui.close.addEventListener('click', () => void perform(() => remote.close()));
ui.reopen.addEventListener('click', () => void perform(() => remote.reopen()));
ui.tear.addEventListener('click', () => void perform(() => remote.tearTail()));
ui.corrupt.addEventListener('click', () => void perform(() => remote.corruptSealed()));
ui.reset.addEventListener('click', () => {
  if (confirm('Delete the whole log?')) void perform(() => remote.reset());
});

// Auto-append: small appends on a timer, to watch segments fill and roll.
let autoTimer: ReturnType<typeof setTimeout> | undefined;
function autoTick(): void {
  autoTimer = undefined;
  if (!ui.auto.checked) return;
  if (!busy && current?.open) void perform(() => remote.append(AUTO_APPEND_EVENTS), true);
  autoTimer = setTimeout(autoTick, AUTO_APPEND_EVERY_MS);
}
ui.auto.addEventListener('change', () => {
  if (ui.auto.checked && autoTimer === undefined) autoTick();
});

updateButtons();
void perform(() => remote.open()).then(() => {
  if (current === undefined) {
    ui.status.className = 'closed';
    ui.status.textContent = 'the WAL could not be opened (is another tab using it?): close that tab and press Reopen';
  }
});
