/**
 * Words of a text, as both embedders read them: Unicode-normalised (NFKD,
 * diacritics dropped), lower-cased runs of letters and digits; an
 * apostrophe inside a word is dropped ("don't" → "dont"), so that quoting
 * styles do not split words. Stop words are kept here; embedders decide
 * what to do with them.
 *
 *     words('Déjà vu: Rust’s 2.0 release!'); // ['deja', 'vu', 'rusts', '2', '0', 'release']
 */

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** The text's words, in order. */
export function words(text: string): string[] {
  const plain = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
  return (plain.match(WORD) ?? []).map((w) => w.replace(/['’]/g, ''));
}

/** Common English function words: they carry little of what a text is about. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by can could did do ' +
    'does doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its ' +
    'itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so some ' +
    'such than that the their theirs them themselves then there these they this those through to too under until up very was we were what ' +
    'when where which while who whom why will with would you your yours yourself yourselves new says said s t'
  ).split(' '),
);
