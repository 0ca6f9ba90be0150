/**
 * Preference data from what the user did, as JSON Lines that TRL's trainers
 * read. Three exports:
 *
 * - Pairs, `{ "prompt", "chosen", "rejected" }` (DPO and reward modelling).
 *   Within one slate, by two rules:
 *   `like>dismiss`: a liked item is preferred to a dismissed one;
 *   `click>skip-above`: a clicked item is preferred to every item shown above
 *   it that got neither a click nor a like (Joachims 2002: the user read
 *   down past them to the click). An item's verdict in a slate is its latest
 *   signal there (liked then dismissed is dismissed).
 *   A pair is dropped when a later signal contradicts it: a dismiss of the
 *   chosen item, or a click or like of the rejected one, anywhere, after the
 *   signals that made the pair. Pairs are deduplicated on
 *   (prompt, chosen item, rejected item); the first kept.
 * - Unpaired rows, `{ "prompt", "completion", "label" }` (KTO): one per
 *   (prompt, item), from the item's latest signal in that context: like or
 *   click `true`, dismiss `false`.
 * - Every signal, raw, with its slate position and source.
 *
 * The prompt describes the user's context in words (the feed, the label or
 * the source being viewed); a completion is the item's text (title, a blank
 * line, summary). Provenance travels in extra snake_case fields, documented
 * on each row type (trainers ignore columns they do not use). Lines are
 * ordered by time, then by slate and position, so an export is
 * deterministic.
 *
 *     const text = toJsonLines(preferencePairs({ slates, signals, items: (id) => itemsById.get(id) }));
 */
import type { SignalKind, SignalRecord, SlateContext, SlateRecord } from './records.js';

/** The text of an item, as the export needs it. */
export interface ExportItem {
  readonly title: string;
  readonly summary?: string;
  readonly url?: string;
}

/** What every export reads. Items the lookup does not know (removed since) are left out of pairs and rows. */
export interface ExportInput {
  readonly slates: readonly SlateRecord[];
  readonly signals: readonly SignalRecord[];
  readonly items: (itemId: string) => ExportItem | undefined;
}

/** The rule that made a pair. */
export type PairRule = 'like>dismiss' | 'click>skip-above';

/** One DPO / reward-model row. */
export interface PreferencePair {
  readonly prompt: string;
  readonly chosen: string;
  readonly rejected: string;
  /** Provenance: the slate both items were shown in. */
  readonly slate_id: string;
  readonly rule: PairRule;
  readonly chosen_id: string;
  readonly rejected_id: string;
  /** 0 = top of the slate. */
  readonly chosen_position: number;
  readonly rejected_position: number;
  /** The latest signal that made the pair (ms since the epoch). */
  readonly at: number;
}

/** One KTO row. */
export interface KtoRow {
  readonly prompt: string;
  readonly completion: string;
  readonly label: boolean;
  /** Provenance: the item, and the signal that decided the label, in its slate at its position. */
  readonly item_id: string;
  readonly signal_id: string;
  readonly signal_kind: SignalKind;
  readonly slate_id: string;
  readonly position: number;
  readonly at: number;
}

/** One raw signal row. */
export interface SignalRow {
  readonly signal_id: string;
  readonly kind: SignalKind;
  readonly at: number;
  readonly tab: string;
  readonly slate_id: string;
  readonly item_id: string;
  /** The item's position in its slate, and the source it was drawn for; null when the slate is unknown here or did not show it. */
  readonly position: number | null;
  readonly source_id: string | null;
  /** The context in words, as in the other exports; null with an unknown slate. */
  readonly prompt: string | null;
  readonly title: string | null;
  readonly url: string | null;
}

/** The prompt for a context: what the user was looking at, in words. */
export function promptFor(context: SlateContext): string {
  switch (context.kind) {
    case 'feed':
      return 'A reader is browsing their Forage feed, which mixes all their sources. Suggest an item they will want to read.';
    case 'label':
      return `A reader is browsing the items of their Forage feed labelled "${context.labelName}". Suggest an item they will want to read.`;
    case 'source':
      return `A reader is browsing the items of their Forage feed from the source "${context.sourceName}". Suggest an item they will want to read.`;
  }
}

/** An item's completion text: its title, then a blank line and its summary when it has one. */
export function completionFor(item: ExportItem): string {
  const summary = item.summary?.trim();
  return summary ? `${item.title.trim()}\n\n${summary}` : item.title.trim();
}

/** The DPO pairs (see the module comment), in order of slate time, slate id, chosen and rejected position. */
export function preferencePairs(input: ExportInput): PreferencePair[] {
  const slates = orderedSlates(input.slates);
  const bySlate = signalsBySlate(input.signals);
  const latestPositive = new Map<string, number>(); // item → time of its latest click or like
  const latestDismiss = new Map<string, number>();
  for (const signal of input.signals) {
    const map = signal.kind === 'dismiss' ? latestDismiss : latestPositive;
    map.set(signal.itemId, Math.max(map.get(signal.itemId) ?? -Infinity, signal.at));
  }
  const contradicted = (chosen: string, rejected: string, at: number) =>
    (latestDismiss.get(chosen) ?? -Infinity) > at || (latestPositive.get(rejected) ?? -Infinity) > at;

  const pairs: PreferencePair[] = [];
  const seen = new Set<string>();
  for (const slate of slates) {
    const verdicts = slateVerdicts(slate, bySlate.get(slate.id) ?? []);
    const prompt = promptFor(slate.context);
    const candidates: { rule: PairRule; chosen: number; rejected: number; at: number }[] = [];
    for (const [chosen, verdict] of verdicts) {
      if (verdict.latest.kind === 'like') {
        for (const [rejected, other] of verdicts) {
          if (other.latest.kind === 'dismiss')
            candidates.push({ rule: 'like>dismiss', chosen, rejected, at: Math.max(verdict.latest.at, other.latest.at) });
        }
      }
      if (verdict.clicked !== undefined && verdict.latest.kind !== 'dismiss') {
        for (let above = 0; above < chosen; above++) {
          const other = verdicts.get(above);
          if (other === undefined || other.latest.kind === 'dismiss') {
            candidates.push({
              rule: 'click>skip-above',
              chosen,
              rejected: above,
              at: Math.max(verdict.clicked, other?.latest.at ?? -Infinity),
            });
          }
        }
      }
    }
    candidates.sort((a, b) => a.chosen - b.chosen || a.rejected - b.rejected || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
    for (const candidate of candidates) {
      const chosenId = slate.entries[candidate.chosen]!.itemId;
      const rejectedId = slate.entries[candidate.rejected]!.itemId;
      if (contradicted(chosenId, rejectedId, candidate.at)) continue;
      const key = JSON.stringify([prompt, chosenId, rejectedId]);
      if (seen.has(key)) continue;
      const chosenItem = input.items(chosenId);
      const rejectedItem = input.items(rejectedId);
      if (chosenItem === undefined || rejectedItem === undefined) continue;
      const chosenText = completionFor(chosenItem);
      const rejectedText = completionFor(rejectedItem);
      if (chosenText === rejectedText) continue; // the same text twice teaches nothing
      seen.add(key);
      pairs.push({
        prompt,
        chosen: chosenText,
        rejected: rejectedText,
        slate_id: slate.id,
        rule: candidate.rule,
        chosen_id: chosenId,
        rejected_id: rejectedId,
        chosen_position: candidate.chosen,
        rejected_position: candidate.rejected,
        at: candidate.at,
      });
    }
  }
  return pairs;
}

/** The KTO rows (see the module comment), in order of the deciding signal's time and id. */
export function ktoRows(input: ExportInput): KtoRow[] {
  const slates = new Map(input.slates.map((slate) => [slate.id, slate]));
  const latest = new Map<string, { signal: SignalRecord; slate: SlateRecord; position: number; prompt: string }>();
  for (const signal of orderedSignals(input.signals)) {
    const slate = slates.get(signal.slateId);
    const position = slate?.entries.findIndex((entry) => entry.itemId === signal.itemId) ?? -1;
    if (slate === undefined || position < 0) continue;
    const prompt = promptFor(slate.context);
    latest.set(JSON.stringify([prompt, signal.itemId]), { signal, slate, position, prompt });
  }
  const rows: KtoRow[] = [];
  for (const { signal, slate, position, prompt } of [...latest.values()].sort((a, b) => compareSignals(a.signal, b.signal))) {
    const item = input.items(signal.itemId);
    if (item === undefined) continue;
    rows.push({
      prompt,
      completion: completionFor(item),
      label: signal.kind !== 'dismiss',
      item_id: signal.itemId,
      signal_id: signal.id,
      signal_kind: signal.kind,
      slate_id: slate.id,
      position,
      at: signal.at,
    });
  }
  return rows;
}

/** Every signal, in order of time and id. */
export function signalRows(input: ExportInput): SignalRow[] {
  const slates = new Map(input.slates.map((slate) => [slate.id, slate]));
  return orderedSignals(input.signals).map((signal) => {
    const slate = slates.get(signal.slateId);
    const entry = slate?.entries.find((e) => e.itemId === signal.itemId);
    const item = input.items(signal.itemId);
    return {
      signal_id: signal.id,
      kind: signal.kind,
      at: signal.at,
      tab: signal.tab,
      slate_id: signal.slateId,
      item_id: signal.itemId,
      position: entry?.position ?? null,
      source_id: entry?.sourceId ?? null,
      prompt: slate === undefined ? null : promptFor(slate.context),
      title: item?.title ?? null,
      url: item?.url ?? null,
    };
  });
}

/** JSON Lines: one JSON object per line, each line ending in `\n` (the empty string for no rows). */
export function toJsonLines(rows: readonly object[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
}

interface Verdict {
  /** The item's latest signal in the slate. */
  readonly latest: SignalRecord;
  /** Time of the item's latest click in the slate, if any. */
  readonly clicked: number | undefined;
}

/** Position → verdict, for the slate's items that got a signal in it. */
function slateVerdicts(slate: SlateRecord, signals: readonly SignalRecord[]): Map<number, Verdict> {
  const positions = new Map(slate.entries.map((entry) => [entry.itemId, entry.position]));
  const verdicts = new Map<number, Verdict>();
  for (const signal of orderedSignals(signals)) {
    const position = positions.get(signal.itemId);
    if (position === undefined) continue;
    const previous = verdicts.get(position);
    verdicts.set(position, { latest: signal, clicked: signal.kind === 'click' ? signal.at : previous?.clicked });
  }
  return verdicts;
}

function signalsBySlate(signals: readonly SignalRecord[]): Map<string, SignalRecord[]> {
  const bySlate = new Map<string, SignalRecord[]>();
  for (const signal of signals) {
    let list = bySlate.get(signal.slateId);
    if (list === undefined) bySlate.set(signal.slateId, (list = []));
    list.push(signal);
  }
  return bySlate;
}

function orderedSlates(slates: readonly SlateRecord[]): SlateRecord[] {
  return [...slates].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function orderedSignals(signals: readonly SignalRecord[]): SignalRecord[] {
  return [...signals].sort(compareSignals);
}

function compareSignals(a: SignalRecord, b: SignalRecord): number {
  return a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
