/**
 * Forage's state read back from tidal, checked: every entity was written by
 * some tab (possibly an older or buggy one), so each is parsed and one that
 * does not have the expected shape is skipped and counted, never trusted.
 *
 *     const state = await loadState(db);
 *     state.items.get(id)?.sources; // every source the story came from
 */
import type { Entity } from '../../../src/index.js';
import { parseSignalRecord, parseSlateRecord, type SignalRecord, type SlateRecord } from '../export/index.js';
import { activeHardNegatives, parseLabelSettings, type LabelSettings } from '../labels/index.js';
import type { SourceKind, SourceSpec } from '../sources/index.js';
import type { ForageDb } from './db.js';
import { ITEM_PREFIX, LABEL_PREFIX, MAX_SCAN, SETTINGS_KEY, SIGNAL_PREFIX, SLATE_PREFIX, SOURCE_PREFIX } from './keys.js';

/** An item as stored (the `item` field of `forage:item:<id>`). */
export interface StoredItem {
  readonly title: string;
  readonly summary: string;
  readonly url: string;
  /** Published time (ms); the time it was first stored when the feed gave none. */
  readonly published: number;
  readonly contentHash: string;
  readonly firstSeen: number;
}

/** The last fetch of a source, success or failure. */
export interface SourceStatus {
  readonly at: number;
  /** Items the fetch yielded. */
  readonly items: number;
  /** Items that were new to Forage. */
  readonly added: number;
  /** What went wrong, `''` when it worked. */
  readonly error: string;
}

export interface SourceState {
  readonly spec: SourceSpec;
  readonly removed: boolean;
  readonly status: SourceStatus | undefined;
}

/** An item's counts of the signals its ranking reads. */
export interface ItemCounters {
  readonly click: number;
  readonly like: number;
  readonly dismiss: number;
}

export interface ItemState {
  readonly id: string;
  readonly item: StoredItem;
  /** Every source the story came from, in id order. */
  readonly sources: readonly string[];
  readonly counters: ItemCounters;
}

export interface LabelState {
  readonly id: string;
  readonly settings: LabelSettings;
  readonly createdAt: number;
  readonly positives: ReadonlySet<string>;
  /** In force: marked and not un-marked. */
  readonly hardNegatives: ReadonlySet<string>;
  /** The raw GSets, for un-marking. */
  readonly marks: readonly unknown[];
  readonly tombstones: readonly unknown[];
}

export interface ForageSettings {
  readonly corsProxy: string;
  /** The embedder labels use in every tab. */
  readonly embedder: 'hashing' | 'glove';
}

/** The settings entity's fields, checked (unknown values fall back to the defaults). */
export function parseSettings(entity: Entity | undefined): ForageSettings {
  const corsProxy = entity?.fields['corsProxy'];
  return { corsProxy: isString(corsProxy) ? corsProxy : '', embedder: entity?.fields['embedder'] === 'glove' ? 'glove' : 'hashing' };
}

export interface ForageState {
  readonly sources: ReadonlyMap<string, SourceState>;
  readonly items: ReadonlyMap<string, ItemState>;
  /** Oldest first. */
  readonly slates: readonly SlateRecord[];
  /** Oldest first. */
  readonly signals: readonly SignalRecord[];
  /** Oldest first. */
  readonly labels: readonly LabelState[];
  readonly settings: ForageSettings;
  /** Entities skipped because they did not have the expected shape. */
  readonly malformed: number;
}

const SOURCE_KINDS: readonly SourceKind[] = ['feed', 'file', 'starter'];
const isString = (v: unknown): v is string => typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function object(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function parseSourceSpec(value: unknown): SourceSpec | undefined {
  const v = object(value);
  if (!v) return undefined;
  const { id, kind, url, title, category } = v;
  if (!isString(id) || !isString(url) || !isString(title) || !isString(category)) return undefined;
  if (!SOURCE_KINDS.includes(kind as SourceKind)) return undefined;
  return { id, kind: kind as SourceKind, url, title, category };
}

function parseStatus(value: unknown): SourceStatus | undefined {
  const v = object(value);
  if (!v || !isTime(v['at']) || !isTime(v['items']) || !isTime(v['added']) || !isString(v['error'])) return undefined;
  return { at: v['at'], items: v['items'], added: v['added'], error: v['error'] };
}

export function parseStoredItem(value: unknown): StoredItem | undefined {
  const v = object(value);
  if (!v) return undefined;
  const { title, summary, url, published, contentHash, firstSeen } = v;
  if (!isString(title) || title === '' || !isString(summary) || !isString(url) || !isString(contentHash)) return undefined;
  if (!isTime(published) || !isTime(firstSeen)) return undefined;
  return { title, summary, url, published, contentHash, firstSeen };
}

function counter(entity: Entity, kind: string): number {
  const n = entity.counters[kind];
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/** Reads everything Forage keeps, in five scans. */
export async function loadState(db: ForageDb): Promise<ForageState> {
  const [sourceRows, itemRows, slateRows, signalRows, labelRows, settingsEntity] = await Promise.all([
    db.scan(SOURCE_PREFIX, { limit: MAX_SCAN }),
    db.scan(ITEM_PREFIX, { limit: MAX_SCAN }),
    db.scan(SLATE_PREFIX, { limit: MAX_SCAN }),
    db.scan(SIGNAL_PREFIX, { limit: MAX_SCAN }),
    db.scan(LABEL_PREFIX, { limit: MAX_SCAN }),
    db.get(SETTINGS_KEY),
  ]);
  let malformed = 0;

  const sources = new Map<string, SourceState>();
  for (const { key, entity } of sourceRows) {
    const spec = parseSourceSpec(entity.fields['spec']);
    if (!spec || key !== `${SOURCE_PREFIX}${spec.id}`) {
      malformed += 1;
      continue;
    }
    sources.set(spec.id, { spec, removed: entity.fields['removed'] === true, status: parseStatus(entity.fields['status']) });
  }

  const items = new Map<string, ItemState>();
  for (const { key, entity } of itemRows) {
    const item = parseStoredItem(entity.fields['item']);
    const itemSources = (entity.sets['sources'] ?? []).filter(isString).sort();
    if (!item || itemSources.length === 0) {
      malformed += 1;
      continue;
    }
    const id = key.slice(ITEM_PREFIX.length);
    items.set(id, {
      id,
      item,
      sources: itemSources,
      counters: { click: counter(entity, 'click'), like: counter(entity, 'like'), dismiss: counter(entity, 'dismiss') },
    });
  }

  const parsed = <T>(rows: { entity: Entity }[], parse: (v: unknown) => T): T[] => {
    const out: T[] = [];
    for (const { entity } of rows) {
      try {
        out.push(parse(entity.fields['record']));
      } catch {
        malformed += 1;
      }
    }
    return out;
  };
  const slates = parsed(slateRows, parseSlateRecord).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  const signals = parsed(signalRows, parseSignalRecord).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));

  const labels: LabelState[] = [];
  for (const { key, entity } of labelRows) {
    let settings: LabelSettings;
    try {
      settings = parseLabelSettings(entity.fields['settings']);
    } catch {
      malformed += 1;
      continue;
    }
    const marks = entity.sets['hardNegatives'] ?? [];
    const tombstones = entity.sets['unmarked'] ?? [];
    const createdAt = entity.fields['createdAt'];
    labels.push({
      id: key.slice(LABEL_PREFIX.length),
      settings,
      createdAt: isTime(createdAt) ? createdAt : 0,
      positives: new Set((entity.sets['positives'] ?? []).filter(isString)),
      hardNegatives: activeHardNegatives(marks, tombstones),
      marks,
      tombstones,
    });
  }
  labels.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));

  return { sources, items, slates, signals, labels, settings: parseSettings(settingsEntity), malformed };
}
