/**
 * Labels: create and edit one (its name, and optionally its own threshold
 * and margin), add positive examples and hard negatives, un-mark a hard
 * negative. Examples are item ids in GSets of the label's entity, so
 * examples added in two tabs at once are both kept; un-marking adds
 * tombstones for the marks this tab has seen (labels/hard-negatives.ts says
 * what that means under union semantics).
 */
import { parseLabelSettings, unmarkTombstones, newHardNegativeMark, type LabelSettings } from '../labels/index.js';
import { SETTINGS_KEY, addMember, labelKey, loadState, recordValue, setField, type ForageState } from '../store/index.js';
import { EMBEDDER_KINDS, type EmbedderKind, type HandlerContext } from './context.js';
import type { LabelRankingView, LabelView } from './operations.js';
import { fields, id, invalid } from './validate.js';
import { assignLabels, labelRanking as rankLabel, labelViews } from './views.js';

function viewOf(ctx: HandlerContext, state: ForageState, labelId: string): LabelView {
  const view = labelViews(ctx, state, assignLabels(ctx, state)).find((l) => l.id === labelId);
  if (!view) throw invalid('labelId', `names no label (${JSON.stringify(labelId)})`);
  return view;
}

function knownLabel(state: ForageState, value: unknown) {
  const labelId = id(value, 'labelId');
  const label = state.labels.find((l) => l.id === labelId);
  if (!label) throw invalid('labelId', `names no label (${JSON.stringify(labelId)})`);
  return label;
}

function knownItem(state: ForageState, value: unknown): string {
  const itemId = id(value, 'itemId');
  if (!state.items.has(itemId)) throw invalid('itemId', `names no item (${JSON.stringify(itemId)})`);
  return itemId;
}

function refuseDuplicateName(state: ForageState, name: string, except?: string): void {
  const folded = name.toLocaleLowerCase();
  if (state.labels.some((l) => l.id !== except && l.settings.name.toLocaleLowerCase() === folded)) {
    throw invalid('name', `"${name}" is taken by another label`);
  }
}

/** Settings from request fields; parseLabelSettings names fields `label.*`, requests name them bare. */
function settingsFrom(input: Record<string, unknown>): LabelSettings {
  const raw: Record<string, unknown> = { name: input['name'] };
  if (input['threshold'] !== undefined) raw['threshold'] = input['threshold'];
  if (input['margin'] !== undefined) raw['margin'] = input['margin'];
  return parseLabelSettings(raw);
}

/**
 * Chooses the embedder labels use, in every tab. The embedder is loaded here first (GloVe's table is
 * fetched): one that cannot be loaded is refused, and the setting stays as it was.
 */
export async function setEmbedder(ctx: HandlerContext, request: unknown): Promise<{ embedder: EmbedderKind; id: string }> {
  const embedder = fields(request)['embedder'];
  if (!EMBEDDER_KINDS.includes(embedder as EmbedderKind)) {
    throw invalid('embedder', `must be one of ${EMBEDDER_KINDS.join(', ')}, not ${JSON.stringify(embedder)}`);
  }
  const loaded = await ctx.loadEmbedding(embedder as EmbedderKind);
  await ctx.db.write([setField(SETTINGS_KEY, 'embedder', loaded.kind)]);
  return { embedder: loaded.kind, id: loaded.embedder.id };
}

export async function createLabel(ctx: HandlerContext, request: unknown): Promise<LabelView> {
  const settings = settingsFrom(fields(request));
  const state = await loadState(ctx.db);
  refuseDuplicateName(state, settings.name);
  const labelId = ctx.newId();
  await ctx.db.write([setField(labelKey(labelId), 'settings', recordValue(settings)), setField(labelKey(labelId), 'createdAt', ctx.now())]);
  return viewOf(ctx, await loadState(ctx.db), labelId);
}

export async function editLabel(ctx: HandlerContext, request: unknown): Promise<LabelView> {
  const input = fields(request);
  const state = await loadState(ctx.db);
  const label = knownLabel(state, input['labelId']);
  const settings = settingsFrom({
    name: input['name'] ?? label.settings.name,
    threshold: input['threshold'] ?? label.settings.threshold,
    margin: input['margin'] ?? label.settings.margin,
  });
  refuseDuplicateName(state, settings.name, label.id);
  await ctx.db.write([setField(labelKey(label.id), 'settings', recordValue(settings))]);
  return viewOf(ctx, await loadState(ctx.db), label.id);
}

export async function addPositive(ctx: HandlerContext, request: unknown): Promise<LabelView> {
  const input = fields(request);
  const state = await loadState(ctx.db);
  const label = knownLabel(state, input['labelId']);
  const itemId = knownItem(state, input['itemId']);
  await ctx.db.write([addMember(labelKey(label.id), 'positives', itemId)]);
  return viewOf(ctx, await loadState(ctx.db), label.id);
}

export async function addHardNegative(ctx: HandlerContext, request: unknown): Promise<LabelView> {
  const input = fields(request);
  const state = await loadState(ctx.db);
  const label = knownLabel(state, input['labelId']);
  const itemId = knownItem(state, input['itemId']);
  await ctx.db.write([addMember(labelKey(label.id), 'hardNegatives', recordValue(newHardNegativeMark(itemId, ctx.newId())))]);
  return viewOf(ctx, await loadState(ctx.db), label.id);
}

export async function unmarkHardNegative(ctx: HandlerContext, request: unknown): Promise<LabelView> {
  const input = fields(request);
  const state = await loadState(ctx.db);
  const label = knownLabel(state, input['labelId']);
  const itemId = id(input['itemId'], 'itemId');
  if (!label.hardNegatives.has(itemId)) throw invalid('itemId', `is not a hard negative of "${label.settings.name}"`);
  await ctx.db.write(
    unmarkTombstones(label.marks, label.tombstones, itemId).map((t) => addMember(labelKey(label.id), 'unmarked', recordValue(t))),
  );
  return viewOf(ctx, await loadState(ctx.db), label.id);
}

/** The items that carry a label, best first. */
export async function labelRanking(ctx: HandlerContext, request: unknown): Promise<LabelRankingView> {
  const state = await loadState(ctx.db);
  return rankLabel(ctx, state, knownLabel(state, fields(request)['labelId']).id);
}
