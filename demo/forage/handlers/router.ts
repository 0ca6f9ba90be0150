/**
 * One typed router from requests to handlers: `route(ctx, { op, ...fields })`
 * finds the operation's handler and runs it. The table below is checked
 * against `Operations`, so an operation without a handler, or a handler
 * answering the wrong type, does not compile; at run time an unknown `op`
 * is refused with `InvalidArgument` naming the field.
 *
 *     const view = await route(ctx, { op: 'view', context: { kind: 'feed' } });
 */
import { loadState } from '../store/index.js';
import type { HandlerContext } from './context.js';
import { exportKto, exportPreferences, exportSignals } from './export-handlers.js';
import { addHardNegative, addPositive, createLabel, editLabel, labelRanking, setEmbedder, unmarkHardNegative } from './label-handlers.js';
import type { ForageRequest, ForageResponse, OperationName } from './operations.js';
import { nextSlate, resolveContext, signal } from './slate-handlers.js';
import { addFile, addSource, addStarter, exportOpml, importOpml, refreshSource, removeSource, setCorsProxy } from './source-handlers.js';
import { fields, invalid, optionalInteger } from './validate.js';
import { assignLabels, forageView, labelViews, posteriorsOf, sourceViews } from './views.js';

type Handler<K extends OperationName> = (ctx: HandlerContext, request: unknown) => Promise<ForageResponse<K>>;

/** Feed slates the view holds by default. */
const DEFAULT_VIEW_SLATES = 10;

const HANDLERS: { readonly [K in OperationName]: Handler<K> } = {
  async view(ctx, request) {
    const input = fields(request);
    const slates = optionalInteger(input['slates'], 'slates', 1, 1000) ?? DEFAULT_VIEW_SLATES;
    const state = await loadState(ctx.db);
    const context = resolveContext(state, input['context']);
    return forageView(ctx, state, context, slates);
  },
  nextSlate,
  signal,
  async sources(ctx) {
    const state = await loadState(ctx.db);
    return sourceViews(state, posteriorsOf(state));
  },
  addSource,
  refreshSource,
  removeSource,
  addStarter,
  importOpml,
  exportOpml,
  addFile,
  setCorsProxy,
  setEmbedder,
  async labels(ctx) {
    const state = await loadState(ctx.db);
    return labelViews(ctx, state, assignLabels(ctx, state));
  },
  labelRanking,
  createLabel,
  editLabel,
  addPositive,
  addHardNegative,
  unmarkHardNegative,
  exportPreferences,
  exportKto,
  exportSignals,
};

/** Runs the handler of `request.op`. */
export function route<K extends OperationName>(ctx: HandlerContext, request: ForageRequest<K>): Promise<ForageResponse<K>> {
  const op = fields(request)['op'];
  if (typeof op !== 'string' || !Object.hasOwn(HANDLERS, op)) {
    return Promise.reject(invalid('op', `must name an operation (${Object.keys(HANDLERS).join(', ')}), not ${JSON.stringify(op)}`));
  }
  const handler = HANDLERS[op as K] as Handler<K>;
  return handler(ctx, request);
}
