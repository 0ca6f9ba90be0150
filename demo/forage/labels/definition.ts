/**
 * A label's settings as the user edits them and tidal stores them, checked
 * before anything is written: a name (1..80 characters after trimming), and
 * optionally its own threshold and margin (else the embedder's defaults,
 * measured on the labelled fixture: see labels.fixture.test.ts).
 *
 *     const settings = parseLabelSettings({ name: ' Rust ', threshold: 0.4 }); // { name: 'Rust', threshold: 0.4 }
 *     const rule = labelRule(settings, embedder.id);
 */
import { TidalError } from '../../../src/index.js';
import type { LabelRule } from './rule.js';

/** What the user sets on a label. */
export interface LabelSettings {
  readonly name: string;
  readonly threshold?: number;
  readonly margin?: number;
}

/** Longest label name, in characters. */
export const MAX_LABEL_NAME_LENGTH = 80;

/**
 * The rule for each embedder, chosen on the labelled fixture
 * (labels.fixture.test.ts prints precision and recall for both scorings
 * and every threshold): the centroid of the positives scored better than
 * the nearest positive with both embedders (F1 0.39 vs 0.37 hashing, 0.81
 * vs 0.77 GloVe; hashing's precision 0.71 vs 0.30), and the threshold is the
 * one with the best F1. The margin, 0.02, is the largest that cost no more
 * than one true member when the fixture's near-duplicate false positives
 * were marked (0.05 cost two with GloVe, 0.1 five). Chosen on 75 items: a
 * starting point, which each label can override.
 */
export const DEFAULT_LABEL_RULES: Readonly<Record<'hashing' | 'glove', LabelRule>> = {
  hashing: { threshold: 0.18, margin: 0.02, scoring: 'centroid' },
  glove: { threshold: 0.47, margin: 0.02, scoring: 'centroid' },
};

/** The default rule for an embedder id (`hashing-…` or `glove-…`). */
export function defaultLabelRule(embedderId: string): LabelRule {
  return embedderId.startsWith('glove') ? DEFAULT_LABEL_RULES.glove : DEFAULT_LABEL_RULES.hashing;
}

/** The label's rule: its own threshold and margin where set, else the embedder's defaults. */
export function labelRule(settings: LabelSettings, embedderId: string): LabelRule {
  const defaults = defaultLabelRule(embedderId);
  return { scoring: defaults.scoring, threshold: settings.threshold ?? defaults.threshold, margin: settings.margin ?? defaults.margin };
}

/** Checks and normalises label settings. Throws `TidalError('InvalidArgument')` naming the field. */
export function parseLabelSettings(value: unknown): LabelSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('label', 'must be an object');
  const raw = value as Record<string, unknown>;
  if (typeof raw['name'] !== 'string') throw invalid('label.name', 'must be a string');
  const name = raw['name'].trim();
  if (name.length === 0) throw invalid('label.name', 'must not be empty');
  if ([...name].length > MAX_LABEL_NAME_LENGTH) throw invalid('label.name', `must be at most ${MAX_LABEL_NAME_LENGTH} characters`);
  const settings: { name: string; threshold?: number; margin?: number } = { name };
  if (raw['threshold'] !== undefined) settings.threshold = unitNumber(raw['threshold'], 'label.threshold', -1, 1);
  if (raw['margin'] !== undefined) settings.margin = unitNumber(raw['margin'], 'label.margin', 0, 2);
  return settings;
}

function unitNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw invalid(field, `must be a number in [${min}, ${max}]`);
  return value;
}

function invalid(field: string, problem: string): TidalError {
  return new TidalError('InvalidArgument', `${field} ${problem}`, { details: { field } });
}
