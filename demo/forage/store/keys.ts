/**
 * How Forage lays its state out in tidal. One database (`forage`), every
 * key under `forage:`, one entity per thing the user sees:
 *
 * | key | fields | sets | counters |
 * | --- | --- | --- | --- |
 * | `forage:source:<id>` | `spec` (SourceSpec), `removed` (bool), `status` (last fetch) | | |
 * | `forage:item:<id>` | `item` (StoredItem) | `sources` (source ids) | `click`, `like`, `dismiss` |
 * | `forage:slate:<id>` | `record` (SlateRecord) | | |
 * | `forage:signal:<id>` | `record` (SignalRecord) | | |
 * | `forage:label:<id>` | `settings` (LabelSettings), `createdAt` | `positives` (item ids), `hardNegatives` (marks), `unmarked` (tombstones) | |
 * | `forage:settings` | `corsProxy` | | |
 *
 * Each thing's content is one field holding one object, so that it appears
 * whole or not at all (tidal writes keys one at a time, with no transaction
 * across them). What may grow from several tabs at once is a GSet (the
 * sources an item came from, a label's examples), so that concurrent adds
 * are a union, never a lost update; removal is a flag (a source) or a
 * tombstone set (a hard negative), because tidal deletes nothing.
 */

export const PREFIX = 'forage:';
export const SOURCE_PREFIX = `${PREFIX}source:`;
export const ITEM_PREFIX = `${PREFIX}item:`;
export const SLATE_PREFIX = `${PREFIX}slate:`;
export const SIGNAL_PREFIX = `${PREFIX}signal:`;
export const LABEL_PREFIX = `${PREFIX}label:`;
export const SETTINGS_KEY = `${PREFIX}settings`;

export const sourceKey = (id: string): string => `${SOURCE_PREFIX}${id}`;
export const itemKey = (id: string): string => `${ITEM_PREFIX}${id}`;
export const slateKey = (id: string): string => `${SLATE_PREFIX}${id}`;
export const signalKey = (id: string): string => `${SIGNAL_PREFIX}${id}`;
export const labelKey = (id: string): string => `${LABEL_PREFIX}${id}`;

/**
 * The most entities of one kind a state load reads (`TidalDb.scan`'s own
 * bound). Past it the oldest slates and signals would be left out of the
 * bandit's evidence; at ten slates a day that is years away.
 */
export const MAX_SCAN = 10_000;
