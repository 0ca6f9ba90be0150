/**
 * The orders of the value codec and the CRDT state: strings by code point
 * (canonical object keys) and by UTF-16 code unit (entity keys and names),
 * byte strings lexicographically, and a `Map` key for byte strings.
 */
/**
 * Orders strings by Unicode code point, which is also the byte order of
 * their UTF-8: the order of object keys in the canonical form. (JavaScript's
 * `<` orders UTF-16 code units instead, which puts U+10000.. before U+E000..U+FFFF.)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800..0xDFFF) stand for code points above 0xFFFF: move them past 0xE000..0xFFFF.
    return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/** Orders strings by UTF-16 code units (JavaScript's `<`): the order of entity keys and names in the CRDT state (docs/CRDT.md). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders byte strings lexicographically (a proper prefix sorts first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True when both byte strings hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A string usable as a `Map` key that is equal for equal byte strings. */
export function bytesKey(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}
