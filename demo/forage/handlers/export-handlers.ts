/**
 * The RLHF exports, as JSON Lines text for the page to download: preference
 * pairs (DPO / reward trainers), unpaired KTO rows, and every signal raw
 * (export/preferences.ts defines the rows and their provenance fields).
 */
import { ktoRows, preferencePairs, signalRows, toJsonLines, type ExportInput } from '../export/index.js';
import { loadState, type ForageState } from '../store/index.js';
import type { HandlerContext } from './context.js';

function exportInput(state: ForageState): ExportInput {
  return {
    slates: state.slates,
    signals: state.signals,
    items: (itemId) => {
      const item = state.items.get(itemId)?.item;
      return item ? { title: item.title, summary: item.summary, url: item.url } : undefined;
    },
  };
}

export async function exportPreferences(ctx: HandlerContext): Promise<string> {
  return toJsonLines(preferencePairs(exportInput(await loadState(ctx.db))));
}

export async function exportKto(ctx: HandlerContext): Promise<string> {
  return toJsonLines(ktoRows(exportInput(await loadState(ctx.db))));
}

export async function exportSignals(ctx: HandlerContext): Promise<string> {
  return toJsonLines(signalRows(exportInput(await loadState(ctx.db))));
}
