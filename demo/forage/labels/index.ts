/**
 * Forage's labels: an item carries a label when its nearest positive
 * example is similar enough (s⁺ ≥ threshold) and no hard negative is nearly
 * as similar (s⁻ < s⁺ − margin). Hard negatives are a grow-only set of marks
 * with a grow-only set of tombstones for un-marking (see hard-negatives.ts).
 *
 *     const rule = labelRule(parseLabelSettings({ name: 'Rust' }), embedder.id);
 *     const negatives = activeHardNegatives(entity.sets.hardNegatives ?? [], entity.sets.unmarked ?? []);
 *     const score = scoreLabel(embedder.embed(text), { positives, hardNegatives }, rule);
 */
export { DEFAULT_LABEL_RULES, MAX_LABEL_NAME_LENGTH, defaultLabelRule, labelRule, parseLabelSettings } from './definition.js';
export type { LabelSettings } from './definition.js';
export { activeHardNegatives, newHardNegativeMark, unmarkTombstones } from './hard-negatives.js';
export type { HardNegativeMark, HardNegativeTombstone } from './hard-negatives.js';
export { centroid, labelScorer, scoreLabel } from './rule.js';
export type { LabelExamples, LabelRule, LabelScore } from './rule.js';
