/**
 * The records Forage keeps of what it showed and what the user did: a
 * `SlateRecord` for every slate the feed drew (which items, in which order,
 * when, in which tab, in which context), and a `SignalRecord` for every
 * click, like or dismiss. Both are plain JSON-shaped values, so they are
 * stored in tidal as they are and replicated to every tab; the bandit's
 * posteriors and every export are pure functions of them.
 *
 * What arrives from tidal was written by some tab, possibly an older or a
 * buggy one: `parseSlateRecord` and `parseSignalRecord` check the shape and
 * bounds and answer anything else with a `TidalError('InvalidArgument')`
 * that names the field.
 *
 *     const slate = parseSlateRecord(entity.fields.record); // throws on a malformed record
 *     const signal: SignalRecord = { id, slateId: slate.id, itemId, kind: 'like', at: Date.now(), tab };
 */
import { TidalError } from '../../../src/index.js';

/** What the user was looking at when a slate was drawn. */
export type SlateContext =
  /** The main feed, every source. */
  | { readonly kind: 'feed' }
  /** The items carrying one label. */
  | { readonly kind: 'label'; readonly labelId: string; readonly labelName: string }
  /** One source's items. */
  | { readonly kind: 'source'; readonly sourceId: string; readonly sourceName: string };

/** One item of a slate, at its position (0 = top). */
export interface SlateEntry {
  readonly itemId: string;
  /** The source the bandit drew the item for (the arm credited by a click or like on it). */
  readonly sourceId: string;
  readonly position: number;
}

/** A slate as drawn and shown: the unit in which impressions, clicks and skips are read. */
export interface SlateRecord {
  readonly id: string;
  /** When it was drawn (ms since the epoch, the drawing tab's clock). */
  readonly at: number;
  /** The tab that drew it (`TidalDb.tabId`). */
  readonly tab: string;
  readonly context: SlateContext;
  /** In display order: `entries[i].position === i`. */
  readonly entries: readonly SlateEntry[];
}

/** What a user can do with an item. */
export type SignalKind = 'click' | 'like' | 'dismiss';

/** Every signal kind, in a fixed order. */
export const SIGNAL_KINDS: readonly SignalKind[] = ['click', 'like', 'dismiss'];

/** One user action on an item shown in a slate. */
export interface SignalRecord {
  readonly id: string;
  readonly slateId: string;
  readonly itemId: string;
  readonly kind: SignalKind;
  /** When it happened (ms since the epoch, the acting tab's clock). */
  readonly at: number;
  readonly tab: string;
}

/** Bounds on a record read from storage. */
export const RECORD_LIMITS = {
  /** Longest id, tab or name, in UTF-16 code units. */
  maxStringLength: 512,
  /** Most entries in one slate. */
  maxSlateEntries: 200,
} as const;

/** A slate record checked for shape and bounds. Throws `TidalError('InvalidArgument')` naming the field. */
export function parseSlateRecord(value: unknown): SlateRecord {
  const record = object(value, 'slate');
  const id = text(record['id'], 'slate.id');
  const at = time(record['at'], 'slate.at');
  const tab = text(record['tab'], 'slate.tab');
  const context = parseContext(record['context']);
  if (!Array.isArray(record['entries'])) throw invalid('slate.entries', 'must be an array');
  if (record['entries'].length > RECORD_LIMITS.maxSlateEntries) {
    throw invalid('slate.entries', `has ${record['entries'].length} entries, more than ${RECORD_LIMITS.maxSlateEntries}`);
  }
  const seen = new Set<string>();
  const entries = record['entries'].map((raw: unknown, i: number): SlateEntry => {
    const entry = object(raw, `slate.entries[${i}]`);
    const itemId = text(entry['itemId'], `slate.entries[${i}].itemId`);
    const sourceId = text(entry['sourceId'], `slate.entries[${i}].sourceId`);
    if (entry['position'] !== i) throw invalid(`slate.entries[${i}].position`, `must be ${i} (entries are in display order)`);
    if (seen.has(itemId)) throw invalid(`slate.entries[${i}].itemId`, `repeats item ${JSON.stringify(itemId)}`);
    seen.add(itemId);
    return { itemId, sourceId, position: i };
  });
  return { id, at, tab, context, entries };
}

/** A signal record checked for shape and bounds. Throws `TidalError('InvalidArgument')` naming the field. */
export function parseSignalRecord(value: unknown): SignalRecord {
  const record = object(value, 'signal');
  const kind = record['kind'];
  if (kind !== 'click' && kind !== 'like' && kind !== 'dismiss') {
    throw invalid('signal.kind', `must be one of ${SIGNAL_KINDS.join(', ')}, not ${JSON.stringify(kind)}`);
  }
  return {
    id: text(record['id'], 'signal.id'),
    slateId: text(record['slateId'], 'signal.slateId'),
    itemId: text(record['itemId'], 'signal.itemId'),
    kind,
    at: time(record['at'], 'signal.at'),
    tab: text(record['tab'], 'signal.tab'),
  };
}

function parseContext(value: unknown): SlateContext {
  const context = object(value, 'slate.context');
  switch (context['kind']) {
    case 'feed':
      return { kind: 'feed' };
    case 'label':
      return {
        kind: 'label',
        labelId: text(context['labelId'], 'slate.context.labelId'),
        labelName: text(context['labelName'], 'slate.context.labelName'),
      };
    case 'source':
      return {
        kind: 'source',
        sourceId: text(context['sourceId'], 'slate.context.sourceId'),
        sourceName: text(context['sourceName'], 'slate.context.sourceName'),
      };
    default:
      throw invalid('slate.context.kind', `must be feed, label or source, not ${JSON.stringify(context['kind'])}`);
  }
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'must be a non-empty string');
  if (value.length > RECORD_LIMITS.maxStringLength)
    throw invalid(field, `is ${value.length} characters long, more than ${RECORD_LIMITS.maxStringLength}`);
  return value;
}

function time(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw invalid(field, 'must be a non-negative integer (ms since the epoch)');
  return value;
}

function invalid(field: string, problem: string): TidalError {
  return new TidalError('InvalidArgument', `${field} ${problem}`, { details: { field } });
}
