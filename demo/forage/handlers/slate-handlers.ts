/**
 * Drawing slates and recording signals. `nextSlate` draws by Thompson
 * sampling over the user's sources (bandit/slate.ts), among the items of the
 * context not yet shown nor acted on (once every item has been shown, those
 * shown but never acted on come back), ranked within a source by freshness
 * and label score; it records the slate (items, order, time, tab, context)
 * before returning it. `signal` records a click, like or dismiss of an item
 * of a recorded slate; a dismiss while viewing a label also makes the item a
 * hard negative of that label.
 */
import { drawSlate, rankCandidates, type SlateSource } from '../bandit/index.js';
import { SIGNAL_KINDS, type SignalKind, type SignalRecord, type SlateContext, type SlateRecord } from '../export/index.js';
import { newHardNegativeMark } from '../labels/index.js';
import {
  addMember,
  incrementCounter,
  itemKey,
  labelKey,
  loadState,
  recordValue,
  setField,
  signalKey,
  slateKey,
  type ForageState,
  type ItemState,
} from '../store/index.js';
import type { HandlerContext } from './context.js';
import type { ContextRequest, SignalView, SlateView } from './operations.js';
import { fields, id, invalid, optionalInteger } from './validate.js';
import { activeSources, assignLabels, isVisible, posteriorsOf, slateView } from './views.js';

export const DEFAULT_SLATE_SIZE = 10;
const MAX_SLATE_SIZE = 50;

/** The request's context, checked against the state, with the names the record keeps. */
export function resolveContext(state: ForageState, value: unknown): SlateContext {
  if (value === undefined) return { kind: 'feed' };
  const context = fields(value) as Partial<ContextRequest> & Record<string, unknown>;
  switch (context.kind) {
    case 'feed':
      return { kind: 'feed' };
    case 'label': {
      const labelId = id(context['labelId'], 'context.labelId');
      const label = state.labels.find((l) => l.id === labelId);
      if (!label) throw invalid('context.labelId', `names no label (${JSON.stringify(labelId)})`);
      return { kind: 'label', labelId, labelName: label.settings.name };
    }
    case 'source': {
      const sourceId = id(context['sourceId'], 'context.sourceId');
      const source = state.sources.get(sourceId);
      if (!source || source.removed) throw invalid('context.sourceId', `names no source of yours (${JSON.stringify(sourceId)})`);
      return { kind: 'source', sourceId, sourceName: source.spec.title };
    }
    default:
      throw invalid('context.kind', `must be feed, label or source, not ${JSON.stringify(context.kind)}`);
  }
}

export async function nextSlate(ctx: HandlerContext, request: unknown): Promise<SlateView> {
  const input = fields(request);
  const size = optionalInteger(input['size'], 'size', 1, MAX_SLATE_SIZE) ?? DEFAULT_SLATE_SIZE;
  const state = await loadState(ctx.db);
  const context = resolveContext(state, input['context']);
  const labels = assignLabels(ctx, state);

  const acted = new Set(state.signals.map((s) => s.itemId));
  const shown = new Set(state.slates.flatMap((s) => s.entries.map((e) => e.itemId)));
  const inContext = (item: ItemState) =>
    isVisible(state, item) &&
    !acted.has(item.id) &&
    (context.kind !== 'label' || (labels.byItem.get(item.id)?.ids.includes(context.labelId) ?? false)) &&
    (context.kind !== 'source' || item.sources.includes(context.sourceId));
  let candidates = [...state.items.values()].filter((item) => inContext(item) && !shown.has(item.id));
  if (candidates.length === 0) candidates = [...state.items.values()].filter(inContext);

  const now = ctx.now();
  const posteriors = posteriorsOf(state);
  const arms: SlateSource<ItemState & { publishedAt: number; labelScore: number }>[] = activeSources(state)
    .filter((s) => context.kind !== 'source' || s.spec.id === context.sourceId)
    .map((source) => ({
      sourceId: source.spec.id,
      posterior: posteriors.get(source.spec.id) ?? { alpha: 1, beta: 1 },
      candidates: rankCandidates(
        candidates
          .filter((item) => item.sources.includes(source.spec.id))
          .map((item) => ({ ...item, publishedAt: item.item.published, labelScore: labels.byItem.get(item.id)?.best ?? 0 })),
        { now },
      ),
    }))
    .filter((arm) => arm.candidates.length > 0);
  const drawn = drawSlate(arms, { size, random: ctx.random });
  if (drawn.length === 0) return { id: '', at: now, tab: ctx.tab, context, items: [] };

  const record: SlateRecord = {
    id: ctx.newId(),
    at: now,
    tab: ctx.tab,
    context,
    entries: drawn.map((entry, position) => ({ itemId: entry.item.id, sourceId: entry.sourceId, position })),
  };
  await ctx.db.write([setField(slateKey(record.id), 'record', recordValue(record))]);
  return slateView(state, labels, record, { hideDismissed: false });
}

export async function signal(ctx: HandlerContext, request: unknown): Promise<SignalView> {
  const input = fields(request);
  const itemId = id(input['itemId'], 'itemId');
  const kind = input['kind'];
  if (!SIGNAL_KINDS.includes(kind as SignalKind))
    throw invalid('kind', `must be one of ${SIGNAL_KINDS.join(', ')}, not ${JSON.stringify(kind)}`);
  const slateId = id(input['slateId'], 'slateId');
  const state = await loadState(ctx.db);
  const slate = state.slates.find((s) => s.id === slateId);
  if (!slate) throw invalid('slateId', `names no recorded slate (${JSON.stringify(slateId)})`);
  if (!slate.entries.some((e) => e.itemId === itemId)) throw invalid('itemId', `was not shown in slate ${slateId}`);
  if (!state.items.has(itemId)) throw invalid('itemId', `names no item (${JSON.stringify(itemId)})`);
  const label =
    slate.context.kind === 'label' && kind === 'dismiss'
      ? state.labels.find((l) => l.id === (slate.context as { labelId: string }).labelId)
      : undefined;

  const record: SignalRecord = { id: ctx.newId(), slateId, itemId, kind: kind as SignalKind, at: ctx.now(), tab: ctx.tab };
  const writes = [setField(signalKey(record.id), 'record', recordValue(record)), incrementCounter(itemKey(itemId), record.kind)];
  if (label) writes.push(addMember(labelKey(label.id), 'hardNegatives', recordValue(newHardNegativeMark(itemId, ctx.newId()))));
  await ctx.db.write(writes);
  return { signal: record, hardNegativeOf: label?.id };
}
