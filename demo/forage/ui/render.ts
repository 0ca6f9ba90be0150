/**
 * Forage's page as DOM, from a `ForageView`: the feed's cards, the sources
 * panel (the bandit's chart and the list), the labels panel, the counters.
 * Every text from a feed is set with `textContent`; the one piece of markup,
 * the chart, is SVG built with every name escaped (bandit/chart.ts).
 */
import { el } from '../../dom.js';
import type { ForageView, ItemView, LabelView, SlateView, SourceView } from '../handlers/index.js';
import { ago } from './messages.js';

/** What a card's controls do; the page wires them to the client. */
export interface CardActions {
  signal(item: ItemView, slate: SlateView, kind: 'click' | 'like' | 'dismiss', card: HTMLElement): void;
  addPositive(item: ItemView, labelId: string, card: HTMLElement): void;
  hardNegative(item: ItemView, labelId: string, card: HTMLElement): void;
}

export function renderCard(item: ItemView, slate: SlateView, labels: readonly LabelView[], actions: CardActions, now: number): HTMLElement {
  const card = el('article', {
    class: item.counters.like > 0 ? 'card liked' : 'card',
    tabindex: '-1',
    'data-item': item.id,
    'data-slate': slate.id,
  });
  const title = el('a', item.url ? { href: item.url, target: '_blank', rel: 'noopener noreferrer' } : {}, item.title);
  title.addEventListener('click', () => actions.signal(item, slate, 'click', card));
  const sources = item.sources.map((s) => s.title).join(' · ');
  const meta = el('div', { class: 'meta' }, `${sources} — ${ago(item.published, now)}`);
  if (item.sources.length > 1) meta.title = `the same story from ${item.sources.length} sources`;
  card.append(el('h3', {}, title), meta);
  if (item.summary) card.append(el('p', { class: 'summary' }, item.summary));

  const chips = el('div', { class: 'labels' });
  item.labelIds.forEach((labelId, i) => {
    const remove = el('button', { title: `not "${item.labels[i]}": make it a hard negative`, 'aria-label': `not ${item.labels[i]}` }, '×');
    remove.addEventListener('click', () => actions.hardNegative(item, labelId, card));
    chips.append(el('span', { class: 'chip', 'data-label': labelId }, item.labels[i] ?? '', remove));
  });

  const like = el('button', { class: 'like', title: 'like (l)' }, item.counters.like > 0 ? '♥ liked' : '♡ like') as HTMLButtonElement;
  like.disabled = item.counters.like > 0;
  like.addEventListener('click', () => actions.signal(item, slate, 'like', card));
  const dismiss = el(
    'button',
    { class: 'dismiss', title: slate.context.kind === 'label' ? 'dismiss (d): also a hard negative of this label' : 'dismiss (d)' },
    '✕ dismiss',
  );
  dismiss.addEventListener('click', () => actions.signal(item, slate, 'dismiss', card));
  const open = el('button', { class: 'open', title: 'open (o)' }, '↗ open') as HTMLButtonElement;
  open.disabled = !item.url;
  open.addEventListener('click', () => {
    actions.signal(item, slate, 'click', card);
    window.open(item.url, '_blank', 'noopener,noreferrer');
  });
  const controls = el('div', { class: 'actions' }, like, dismiss, open);
  const candidates = labels.filter((l) => !item.labelIds.includes(l.id));
  if (candidates.length > 0) {
    const select = el(
      'select',
      { class: 'add-label', 'aria-label': 'add to a label' },
      el('option', { value: '' }, 'add to label…'),
    ) as HTMLSelectElement;
    for (const label of candidates) select.append(el('option', { value: label.id }, label.name));
    select.addEventListener('change', () => {
      if (select.value) actions.addPositive(item, select.value, card);
    });
    controls.append(select);
  }
  controls.append(chips);
  card.append(controls, el('div', { class: 'message card-message' }));
  return card;
}

export function renderFeed(container: HTMLElement, view: ForageView, actions: CardActions, now: number): void {
  const parts: HTMLElement[] = [];
  for (const slate of view.feed) {
    if (slate.items.length === 0) continue;
    parts.push(el('div', { class: 'slate-head' }, `drawn ${ago(slate.at, now)}`));
    for (const item of slate.items) parts.push(renderCard(item, slate, view.labels, actions, now));
  }
  if (parts.length === 0)
    parts.push(
      el(
        'div',
        { class: 'empty' },
        view.counts.items === 0 ? 'No items yet: add a source.' : 'Nothing here yet: press More to draw a slate.',
      ),
    );
  container.replaceChildren(...parts);
}

export interface SourceActions {
  view(source: SourceView): void;
  refresh(source: SourceView, row: HTMLElement): void;
  remove(source: SourceView, row: HTMLElement): void;
}

export function renderSources(list: HTMLElement, chart: HTMLElement, view: ForageView, actions: SourceActions): void {
  chart.innerHTML = view.chart; // SVG from posteriorChartSvg: every name in it is XML-escaped
  list.replaceChildren(
    ...view.sources.map((source) => {
      const name = el('a', { href: '#', class: 'name', title: source.url }, source.title);
      name.addEventListener('click', (event) => {
        event.preventDefault();
        actions.view(source);
      });
      const mean = `${(source.summary.mean * 100).toFixed(0)}%`;
      const stats = el(
        'span',
        { class: 'num', title: `α ${source.posterior.alpha.toFixed(2)}, β ${source.posterior.beta.toFixed(2)}` },
        `${source.items} items · ${mean}`,
      );
      const row = el('li', { 'data-source': source.id }, name, stats);
      if (source.kind !== 'file') {
        const refresh = el('button', { class: 'small refresh', title: 'fetch it again' }, '↻');
        refresh.addEventListener('click', () => actions.refresh(source, row));
        row.append(refresh);
      }
      const remove = el('button', { class: 'small remove', title: 'remove this source' }, '×');
      remove.addEventListener('click', () => actions.remove(source, row));
      row.append(remove);
      if (source.status?.error) name.append(el('span', { class: 'error' }, `last fetch failed: ${source.status.error}`));
      return row;
    }),
  );
}

export interface LabelActions {
  view(label: LabelView): void;
}

export function renderLabels(list: HTMLElement, view: ForageView, actions: LabelActions): void {
  list.replaceChildren(
    ...view.labels.map((label) => {
      const name = el('a', { href: '#', class: 'name' }, label.name);
      name.addEventListener('click', (event) => {
        event.preventDefault();
        actions.view(label);
      });
      const stats = el(
        'span',
        { class: 'num', title: `threshold ${label.threshold}, margin ${label.margin}` },
        `${label.items} items · ${label.positives.length} positive · ${label.hardNegatives.length} hard negative`,
      );
      return el('li', { 'data-label': label.id }, name, stats);
    }),
  );
}

export function renderCounts(target: HTMLElement, view: ForageView): void {
  const part = (n: number, what: string) => [el('b', {}, String(n)), ` ${what}`];
  target.replaceChildren(
    ...part(view.counts.items, 'items · '),
    ...part(view.counts.like, 'likes · '),
    ...part(view.counts.dismiss, 'dismissed · '),
    ...part(view.counts.click, 'opened'),
  );
}
