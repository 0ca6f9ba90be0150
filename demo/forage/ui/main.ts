/**
 * Forage's page. It opens the database (`window.tidal`, an open `TidalDb`:
 * `openTidal` needs `localStorage`, so it runs here), starts Forage's worker
 * and hands it the database over a MessageChannel, and exposes the client
 * it uses as `window.forage`. The page renders from one `view` request and
 * re-renders whenever a `forage:` key changes, in this tab or any other
 * (a tidal subscription: no polling), so every open tab shows the same
 * feed, counters, labels and posteriors.
 *
 * Start it with `npm run dev` and open http://localhost:5173/.
 */
import * as Comlink from 'comlink';
import { installTidalErrorHandler, openTidal, type TidalDb } from '../../../src/index.js';
import { byId } from '../../dom.js';
import type { ContextRequest, EmbedderKind, ForageView, ForageWorkerApi, IngestResult, OpmlImportResult } from '../handlers/index.js';
import { PREFIX, serveForageDb } from '../store/index.js';
import { ForageClient } from './client.js';
import { download, readFile } from './files.js';
import { clear, errorText, progressText, show } from './messages.js';
import { renderCounts, renderFeed, renderLabels, renderSources, type CardActions } from './render.js';
import { describeSync } from './sync-status.js';
import { forgetSyncSettings, loadSyncOptions, loadSyncSettings, saveSyncSettings, sealSyncSettings } from './sync-settings.js';

declare global {
  interface Window {
    /** The open database (see demo/inspector/main.ts, which declares it the same way). */
    tidal: TidalDb;
    /** Forage's client, once the page is connected to its worker. */
    forage: ForageClient;
  }
}

installTidalErrorHandler();

const ui = {
  status: byId('status'),
  counts: byId('counts'),
  contextTitle: byId('context-title'),
  contextReset: byId<HTMLButtonElement>('context-reset'),
  feedMessage: byId('feed-message'),
  feed: byId('feed'),
  more: byId<HTMLButtonElement>('more'),
  moreMessage: byId('more-message'),
  addSource: byId<HTMLFormElement>('add-source'),
  sourceUrl: byId<HTMLInputElement>('source-url'),
  drop: byId('drop'),
  file: byId<HTMLInputElement>('file'),
  sourceMessage: byId('source-message'),
  chart: byId('chart'),
  sources: byId('sources'),
  sourcesCount: byId('sources-count'),
  proxyForm: byId<HTMLFormElement>('proxy-form'),
  proxy: byId<HTMLInputElement>('proxy'),
  proxyMessage: byId('proxy-message'),
  addLabel: byId<HTMLFormElement>('add-label'),
  labelName: byId<HTMLInputElement>('label-name'),
  labelMessage: byId('label-message'),
  labels: byId('labels'),
  embedder: byId<HTMLSelectElement>('embedder'),
  embedderMessage: byId('embedder-message'),
  exportMessage: byId('export-message'),
  syncState: byId('sync-state'),
  syncStatus: byId('sync-status'),
  syncErrors: byId('sync-errors'),
  syncNotes: byId('sync-notes'),
  syncActions: byId('sync-actions'),
  syncNow: byId<HTMLButtonElement>('sync-now'),
  syncForget: byId<HTMLButtonElement>('sync-forget'),
  syncSetup: byId<HTMLDetailsElement>('sync-setup'),
  syncForm: byId<HTMLFormElement>('sync-form'),
  syncMessage: byId('sync-message'),
};

/** This tab's own view state: what it is looking at, and which card is selected. */
const page = {
  context: { kind: 'feed' } as ContextRequest,
  selected: undefined as string | undefined,
  view: undefined as ForageView | undefined,
  /** Contexts this tab already drew a first slate for, so an empty context is filled once, not in a loop. */
  autoDrawn: new Set<string>(),
  drawing: false,
  /** Set once the first start's starter feeds are in: an empty feed is not filled from a half-loaded bundle. */
  started: false,
};

const contextKey = (context: ContextRequest): string => JSON.stringify(context);

async function boot(): Promise<ForageClient> {
  const db = await openWithSync();
  window.tidal = db;
  startSyncPanel(db);
  const worker = new Worker(new URL('../worker/forage.worker.ts', import.meta.url), { type: 'module', name: 'forage' });
  const api = Comlink.wrap<ForageWorkerApi>(worker);
  const { port1, port2 } = new MessageChannel();
  serveForageDb(db, port1);
  await api.connect(Comlink.transfer(port2, [port2]), { tab: db.tabId, origin: location.origin });
  const client = new ForageClient(api);
  window.forage = client;
  db.subscribe(PREFIX, scheduleRefresh);
  return client;
}

// ---- sync --------------------------------------------------------------------

/** Tabs of this profile hear here that the sync settings changed: each reopens the database with them. */
const syncChannel = new BroadcastChannel('forage-sync-settings');
syncChannel.onmessage = () => location.reload();

/** Opens the database with the sync settings this browser keeps (sync-settings.ts), or without sync. */
async function openWithSync(): Promise<TidalDb> {
  let sync;
  try {
    sync = await loadSyncOptions();
  } catch (error) {
    show(ui.syncMessage, 'error', `Sync is off: ${errorText(error)}`);
  }
  if (!sync) return openTidal({ name: 'forage' });
  try {
    return await openTidal({ name: 'forage', sync });
  } catch (error) {
    show(ui.syncMessage, 'error', `Sync is off: its settings were refused (${errorText(error)}); Forage runs without it`);
    return openTidal({ name: 'forage' });
  }
}

const SYNC_STATUS_MS = 2000;

function startSyncPanel(db: TidalDb): void {
  void loadSyncSettings().then((stored) => {
    if (!stored) return;
    const field = (id: string, value: string) => (byId<HTMLInputElement>(id).value = value);
    field('sync-endpoint', stored.endpoint);
    field('sync-bucket', stored.bucket);
    field('sync-region', stored.region);
    field('sync-access-key', stored.accessKeyId);
    field('sync-account', stored.account);
  });
  ui.syncForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveSyncForm();
  });
  ui.syncForget.addEventListener('click', () => {
    void forgetSyncSettings().then(() => {
      syncChannel.postMessage('changed');
      location.reload();
    });
  });
  const sync = db.sync;
  if (!sync) return;
  ui.syncActions.hidden = false;
  ui.syncNow.addEventListener('click', () => {
    ui.syncNow.disabled = true;
    show(ui.syncMessage, 'progress', 'Syncing…');
    sync
      .now()
      .then((stats) => {
        renderSync(stats);
        clear(ui.syncMessage);
      })
      .catch((error) => show(ui.syncMessage, 'error', `Sync failed: ${errorText(error)}`))
      .finally(() => (ui.syncNow.disabled = false));
  });
  const update = () =>
    void sync
      .stats()
      .then(renderSync)
      .catch((error) => show(ui.syncMessage, 'error', `Sync status unavailable: ${errorText(error)}`))
      .finally(() => setTimeout(update, SYNC_STATUS_MS));
  update();
}

function renderSync(stats: Awaited<ReturnType<NonNullable<TidalDb['sync']>['stats']>>): void {
  const status = describeSync(stats, Date.now());
  ui.syncState.textContent = status.state === 'ok' ? 'on' : status.state === 'waiting' ? 'starting…' : 'errors';
  ui.syncStatus.replaceChildren(
    ...status.rows.flatMap((row) => [
      Object.assign(document.createElement('dt'), { textContent: row.name }),
      Object.assign(document.createElement('dd'), { textContent: row.value }),
    ]),
  );
  ui.syncErrors.replaceChildren(...status.errors.map((error) => Object.assign(document.createElement('li'), { textContent: error })));
  ui.syncNotes.textContent = status.notes.join(' ');
}

async function saveSyncForm(): Promise<void> {
  const value = (id: string) => byId<HTMLInputElement>(id).value;
  const passphrase = byId<HTMLInputElement>('sync-passphrase');
  show(ui.syncMessage, 'progress', 'Deriving the key from the passphrase (Argon2id)…');
  try {
    const sealed = await sealSyncSettings({
      endpoint: value('sync-endpoint'),
      bucket: value('sync-bucket'),
      region: value('sync-region'),
      accessKeyId: value('sync-access-key'),
      secretAccessKey: value('sync-secret'),
      account: value('sync-account'),
      passphrase: passphrase.value,
    });
    passphrase.value = '';
    byId<HTMLInputElement>('sync-secret').value = '';
    await saveSyncSettings(sealed);
    show(ui.syncMessage, 'ok', 'Saved. Reopening with sync…');
    syncChannel.postMessage('changed');
    location.reload();
  } catch (error) {
    show(ui.syncMessage, 'error', errorText(error));
  }
}

// ---- refreshing ------------------------------------------------------------

let client: ForageClient;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing = false;
let refreshAgain = false;

/** Coalesces a burst of changes (a feed's hundreds of items) into one re-render. */
function scheduleRefresh(): void {
  if (refreshTimer !== undefined) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    void refresh();
  }, 50);
}

async function refresh(): Promise<void> {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    const view = await client.view({ context: page.context });
    page.view = view;
    render(view);
    await fillIfEmpty(view);
  } catch (error) {
    show(ui.feedMessage, 'error', `Could not read the feed: ${errorText(error)}`);
    if (page.context.kind !== 'feed') setContext({ kind: 'feed' }); // the label or source may be gone
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      void refresh();
    }
  }
}

function render(view: ForageView): void {
  const now = Date.now();
  const focusedInside = ui.feed.contains(document.activeElement);
  renderFeed(ui.feed, view, cardActions, now);
  renderSources(ui.sources, ui.chart, view, {
    view: (source) => setContext({ kind: 'source', sourceId: source.id }),
    refresh: (source, row) => void refreshSource(source.id, row),
    remove: (source, row) =>
      void client
        .removeSource(source.id)
        .catch((error) => row.append(Object.assign(document.createElement('span'), { className: 'error', textContent: errorText(error) }))),
  });
  renderLabels(ui.labels, view, { view: (label) => setContext({ kind: 'label', labelId: label.id }) });
  renderCounts(ui.counts, view);
  ui.sourcesCount.textContent = String(view.sources.length);
  if (document.activeElement !== ui.proxy) ui.proxy.value = view.corsProxy;
  if (document.activeElement !== ui.embedder) ui.embedder.value = view.embedder.kind;
  if (view.embedder.error) show(ui.embedderMessage, 'error', view.embedder.error);
  else if (ui.embedderMessage.classList.contains('error')) clear(ui.embedderMessage);
  const context = page.context;
  ui.contextTitle.textContent =
    context.kind === 'feed'
      ? 'Your feed'
      : context.kind === 'label'
        ? `Label: ${view.labels.find((l) => l.id === context.labelId)?.name ?? '…'}`
        : `Source: ${view.sources.find((s) => s.id === context.sourceId)?.title ?? '…'}`;
  ui.contextReset.hidden = context.kind === 'feed';
  select(page.selected, focusedInside);
}

/** A context with no slate yet gets its first one drawn (once per tab and context). */
async function fillIfEmpty(view: ForageView): Promise<void> {
  const key = contextKey(page.context);
  if (!page.started || view.feed.length > 0 || view.counts.items === 0 || page.autoDrawn.has(key)) return;
  page.autoDrawn.add(key);
  await drawMore();
}

function setContext(context: ContextRequest): void {
  page.context = context;
  page.selected = undefined;
  clear(ui.feedMessage);
  void refresh();
}

async function drawMore(): Promise<void> {
  if (page.drawing) return;
  page.drawing = true;
  ui.more.disabled = true;
  show(ui.moreMessage, 'progress', 'Drawing…');
  try {
    const slate = await client.nextSlate({ context: page.context });
    if (slate.items.length === 0) show(ui.moreMessage, 'ok', 'You have seen everything here. Add a source for more.');
    else clear(ui.moreMessage);
  } catch (error) {
    show(ui.moreMessage, 'error', errorText(error));
  } finally {
    page.drawing = false;
    ui.more.disabled = false;
  }
}

// ---- cards -------------------------------------------------------------------

function cardMessage(card: HTMLElement, error: unknown): void {
  const target = card.querySelector<HTMLElement>('.card-message');
  if (target) show(target, 'error', errorText(error));
}

const cardActions: CardActions = {
  signal(item, slate, kind, card) {
    if (kind === 'dismiss') moveSelection(1);
    client.signal(item.id, kind, { slateId: slate.id }).catch((error) => cardMessage(card, error));
  },
  addPositive(item, labelId, card) {
    client.addPositive(labelId, item.id).catch((error) => cardMessage(card, error));
  },
  hardNegative(item, labelId, card) {
    client.addHardNegative(labelId, item.id).catch((error) => cardMessage(card, error));
  },
};

function cards(): HTMLElement[] {
  return [...ui.feed.querySelectorAll<HTMLElement>('article.card')];
}

function select(itemId: string | undefined, focus: boolean): void {
  for (const card of cards()) {
    const selected = card.dataset['item'] === itemId;
    card.classList.toggle('selected', selected);
    if (selected && focus) card.focus({ preventScroll: true });
  }
}

function moveSelection(step: number): void {
  const all = cards();
  if (all.length === 0) return;
  const index = all.findIndex((c) => c.dataset['item'] === page.selected);
  const next = index === -1 ? 0 : index + step;
  if (next >= all.length) {
    void drawMore();
    return;
  }
  const card = all[Math.max(0, next)]!;
  page.selected = card.dataset['item'];
  select(page.selected, true);
  card.scrollIntoView({ block: 'nearest' });
}

function selectedCard(): HTMLElement | undefined {
  return cards().find((c) => c.dataset['item'] === page.selected);
}

document.addEventListener('keydown', (event) => {
  const target = event.target as HTMLElement;
  if (event.ctrlKey || event.metaKey || event.altKey || target.closest('input, textarea, select')) return;
  const card = selectedCard();
  const press = (selector: string) => card?.querySelector<HTMLButtonElement>(selector)?.click();
  switch (event.key) {
    case 'j':
      moveSelection(1);
      break;
    case 'k':
      moveSelection(-1);
      break;
    case 'l':
      press('button.like');
      break;
    case 'd':
      press('button.dismiss');
      break;
    case 'o':
      press('button.open');
      break;
    default:
      return;
  }
  event.preventDefault();
});

ui.feed.addEventListener('click', (event) => {
  const card = (event.target as HTMLElement).closest<HTMLElement>('article.card');
  if (card) {
    page.selected = card.dataset['item'];
    select(page.selected, false);
  }
});

// ---- sources, files, labels, exports ------------------------------------------

function describeIngest(result: IngestResult): string {
  return `${result.title}: ${result.items} items, ${result.added} new${result.merged ? `, ${result.merged} already here from another source` : ''}.`;
}

function describeImport(result: OpmlImportResult): string {
  const failed = result.results.filter((r) => !r.ok);
  const ok = result.results.length - failed.length;
  const lines = [`OPML: ${ok} of ${result.feeds} feeds added.`];
  for (const f of failed) if (!f.ok) lines.push(`${f.url}: ${f.error.replace(/^[A-Z][A-Za-z]+: /, '')}`);
  return lines.join(' ');
}

async function refreshSource(sourceId: string, row: HTMLElement): Promise<void> {
  row.classList.add('busy');
  try {
    const result = await client.refreshSource(sourceId, (p) => show(ui.sourceMessage, 'progress', progressText(p)));
    show(ui.sourceMessage, 'ok', describeIngest(result));
  } catch (error) {
    show(ui.sourceMessage, 'error', errorText(error));
  } finally {
    row.classList.remove('busy');
  }
}

ui.addSource.addEventListener('submit', (event) => {
  event.preventDefault();
  const url = ui.sourceUrl.value;
  show(ui.sourceMessage, 'progress', `Fetching ${url}…`);
  client
    .addSource(url, {}, (p) => show(ui.sourceMessage, 'progress', progressText(p)))
    .then((result) => {
      show(ui.sourceMessage, 'ok', describeIngest(result));
      ui.sourceUrl.value = '';
    })
    .catch((error) => show(ui.sourceMessage, 'error', errorText(error)));
});

async function addFiles(files: FileList | File[]): Promise<void> {
  for (const file of files) {
    show(ui.sourceMessage, 'progress', `Reading ${file.name}…`);
    try {
      const text = await readFile(file);
      const result = await client.addFile(file.name, text, (p) => show(ui.sourceMessage, 'progress', progressText(p)));
      const failed = 'feeds' in result && result.results.some((r) => !r.ok);
      show(ui.sourceMessage, failed ? 'error' : 'ok', 'feeds' in result ? describeImport(result) : describeIngest(result));
    } catch (error) {
      show(ui.sourceMessage, 'error', `${file.name}: ${errorText(error)}`);
    }
  }
}

ui.file.addEventListener('change', () => {
  if (ui.file.files) void addFiles([...ui.file.files]).finally(() => (ui.file.value = ''));
});
ui.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('over');
  if (event.dataTransfer?.files.length) void addFiles([...event.dataTransfer.files]);
});

ui.proxyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  client
    .setCorsProxy(ui.proxy.value)
    .then((r) =>
      show(ui.proxyMessage, 'ok', r.corsProxy ? `Other sites' feeds go through ${r.corsProxy}.` : 'No proxy: feeds are fetched directly.'),
    )
    .catch((error) => show(ui.proxyMessage, 'error', errorText(error)));
});

ui.addLabel.addEventListener('submit', (event) => {
  event.preventDefault();
  client
    .createLabel(ui.labelName.value)
    .then((label) => {
      show(ui.labelMessage, 'ok', `Label "${label.name}" created: add items to it from their cards.`);
      ui.labelName.value = '';
    })
    .catch((error) => show(ui.labelMessage, 'error', errorText(error)));
});

ui.embedder.addEventListener('change', () => {
  const kind = ui.embedder.value as EmbedderKind;
  show(ui.embedderMessage, 'progress', kind === 'glove' ? 'Loading the word vectors…' : 'Switching…');
  client
    .setEmbedder(kind)
    .then((r) => show(ui.embedderMessage, 'ok', `Labels now use ${r.id}, in every tab.`))
    .catch((error) => {
      show(ui.embedderMessage, 'error', errorText(error));
      if (page.view) ui.embedder.value = page.view.embedder.kind;
    });
});

ui.contextReset.addEventListener('click', () => setContext({ kind: 'feed' }));
ui.more.addEventListener('click', () => void drawMore());

function exportButton(id: string, name: string, type: string, produce: () => Promise<string>): void {
  byId(id).addEventListener('click', () => {
    produce()
      .then((text) => {
        download(name, text, type);
        const lines = text === '' ? 0 : text.trimEnd().split('\n').length;
        show(ui.exportMessage, 'ok', type === 'text/x-opml' ? `${name} downloaded.` : `${name}: ${lines} lines downloaded.`);
      })
      .catch((error) => show(ui.exportMessage, 'error', errorText(error)));
  });
}
exportButton('export-preferences', 'preferences.jsonl', 'application/jsonl', () => client.exportPreferences());
exportButton('export-kto', 'kto.jsonl', 'application/jsonl', () => client.exportKto());
exportButton('export-signals', 'signals.jsonl', 'application/jsonl', () => client.exportSignals());
exportButton('export-opml', 'sources.opml', 'text/x-opml', () => client.exportOpml());

// ---- start -------------------------------------------------------------------

boot()
  .then(async (connected) => {
    client = connected;
    show(ui.status, 'progress', 'Loading the starter feeds…');
    const added = await client.addStarter({ onlyIfEmpty: true }, (p) => show(ui.status, 'progress', progressText(p)));
    clear(ui.status);
    page.started = true;
    if (added.length > 0)
      show(ui.sourceMessage, 'ok', `Starter feeds added: ${added.reduce((n, r) => n + r.added, 0)} items from ${added.length} sources.`);
    await refresh();
    document.body.dataset['ready'] = 'true';
  })
  .catch((error) => show(ui.status, 'error', `Forage could not start: ${errorText(error)}`));
