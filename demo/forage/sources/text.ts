/**
 * Feed text to plain text, without a DOM (Forage parses in a worker, where
 * there is no `DOMParser`): markup stripped, the contents of `script`,
 * `style` and comments dropped, entities decoded, whitespace collapsed, the
 * result bounded. Feeds are untrusted: this never builds markup from them,
 * so nothing of a feed can run in the page.
 *
 *     plainText('<p>Caf&eacute; <b>open</b></p><script>x()</script>') // 'Café open'
 */

/** Named entities feeds use in practice; an unknown one is left as written. */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  laquo: '«',
  raquo: '»',
  bull: '•',
  middot: '·',
  copy: '©',
  reg: '®',
  trade: '™',
  deg: '°',
  euro: '€',
  pound: '£',
  times: '×',
  eacute: 'é',
  egrave: 'è',
  aacute: 'á',
  agrave: 'à',
  iacute: 'í',
  oacute: 'ó',
  uacute: 'ú',
  ouml: 'ö',
  uuml: 'ü',
  auml: 'ä',
  szlig: 'ß',
  ntilde: 'ñ',
  ccedil: 'ç',
};

/** Decodes `&name;`, `&#123;` and `&#x7b;`; code points that are not valid characters become U+FFFD. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,31});/gi, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      return valid ? String.fromCodePoint(code) : '\uFFFD';
    }
    return NAMED_ENTITIES[body] ?? NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/** Collapses runs of whitespace (and control characters) to single spaces, trimmed. */
export function collapseWhitespace(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
}

/** Cuts `text` to at most `max` characters, at a word boundary when one is near, with an ellipsis. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

/**
 * `html` as plain text of at most `max` characters. Markup is removed (tags
 * become spaces so that words on either side of a `<br>` stay apart),
 * entities decoded once, after the tags are gone: `&lt;b&gt;` in a title is
 * the text `<b>`, not a tag.
 */
export function plainText(html: string, max = Number.POSITIVE_INFINITY): string {
  const withoutMarkup = html
    .replace(/<!--[\s\S]*?(-->|$)/g, ' ')
    .replace(/<!\[CDATA\[([\s\S]*?)(\]\]>|$)/g, '$1')
    .replace(/<(script|style|noscript|template)\b[\s\S]*?(<\/\1\s*>|$)/gi, ' ')
    .replace(/<\/?[a-z!?][^>]*(>|$)/gi, ' ');
  return truncate(collapseWhitespace(decodeEntities(withoutMarkup)), max);
}
