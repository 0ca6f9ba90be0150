/**
 * Forage's records (`SlateRecord`, `SignalRecord`, with parsers for what is
 * read back from tidal) and its RLHF exports as JSON Lines: DPO pairs
 * (`like>dismiss`, `click>skip-above`), KTO rows and every raw signal.
 *
 *     const input = { slates, signals, items: (id) => itemsById.get(id) };
 *     download('preferences.jsonl', toJsonLines(preferencePairs(input)));
 *     download('kto.jsonl', toJsonLines(ktoRows(input)));
 *     download('signals.jsonl', toJsonLines(signalRows(input)));
 */
export { completionFor, ktoRows, preferencePairs, promptFor, signalRows, toJsonLines } from './preferences.js';
export type { ExportInput, ExportItem, KtoRow, PairRule, PreferencePair, SignalRow } from './preferences.js';
export { RECORD_LIMITS, SIGNAL_KINDS, parseSignalRecord, parseSlateRecord } from './records.js';
export type { SignalKind, SignalRecord, SlateContext, SlateEntry, SlateRecord } from './records.js';
