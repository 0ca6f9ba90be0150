/**
 * From Forage's records to the bandit's evidence: every entry of every
 * slate is one impression of the source it was drawn for, made when the
 * slate was drawn; it is rewarded when the item got a click or a like
 * carrying that slate's id. A dismiss, or no action at all, is an
 * unrewarded impression. A signal for an item the slate did not show, or for
 * an unknown slate, is ignored (a tab may hold a signal before the slate it
 * refers to has replicated to it; the observation appears once both have).
 *
 *     const posteriors = discountedPosteriors(observationsFromRecords(slates, signals));
 */
import type { SignalRecord, SlateRecord } from '../export/records.js';
import type { Observation } from './posterior.js';

/** One observation per slate entry, rewarded when a click or like on that slate's item exists. */
export function observationsFromRecords(slates: readonly SlateRecord[], signals: readonly SignalRecord[]): Observation[] {
  const rewarded = new Set<string>();
  for (const signal of signals) {
    if (signal.kind === 'click' || signal.kind === 'like') rewarded.add(entryKey(signal.slateId, signal.itemId));
  }
  const observations: Observation[] = [];
  for (const slate of slates) {
    for (const entry of slate.entries) {
      observations.push({ sourceId: entry.sourceId, reward: rewarded.has(entryKey(slate.id, entry.itemId)) ? 1 : 0, at: slate.at });
    }
  }
  return observations;
}

function entryKey(slateId: string, itemId: string): string {
  return JSON.stringify([slateId, itemId]);
}
