/**
 * The feed on Forage's page: this tab's view state (the context it looks
 * at, the selected card), rendered from one `view` request and rendered
 * again whenever a `forage:` key changes in any tab (coalesced, 50 ms);
 * an empty context gets its first slate drawn once; the cards' actions,
 * the keyboard (j/k to move, l like, d dismiss, o open) and selection.
 */
import type { ContextRequest, ForageView } from '../handlers/index.js';
import type { ForageClient } from './client.js';
import { ui } from './elements.js';
import { clear, errorText, show } from './messages.js';
import { renderCounts, renderFeed, renderLabels, renderSources, type CardActions } from './render.js';

/** This tab's own view state: what it is looking at, and which card is selected. */
export const page = {
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

// ---- refreshing ------------------------------------------------------------

/** Forage's client, once connected (`showFeed`). */
let client: ForageClient;
/** What a source row's refresh button does (controls.ts). */
let sourceActions: { refreshSource: (sourceId: string, row: HTMLElement) => void };
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing = false;
let refreshAgain = false;

/** Coalesces a burst of changes (a feed's hundreds of items) into one re-render. */
export function scheduleRefresh(): void {
  if (refreshTimer !== undefined) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    void refresh();
  }, 50);
}

export async function refresh(): Promise<void> {
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
    refresh: (source, row) => sourceActions.refreshSource(source.id, row),
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

export function setContext(context: ContextRequest): void {
  page.context = context;
  page.selected = undefined;
  clear(ui.feedMessage);
  void refresh();
}

export async function drawMore(): Promise<void> {
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

/** Starts the feed on `connected`: renders from it from now on (keys, clicks, refreshes, "more"). */
export function showFeed(connected: ForageClient, actions: { refreshSource: (sourceId: string, row: HTMLElement) => void }): void {
  client = connected;
  sourceActions = actions;
  ui.contextReset.addEventListener('click', () => setContext({ kind: 'feed' }));
  ui.more.addEventListener('click', () => void drawMore());
}
